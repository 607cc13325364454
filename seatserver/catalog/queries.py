"""The public catalog queries' parameters, and the opaque cursors of their pages.

Pages are keyset pages on (starts_at, id): a cursor carries the last
showtime's start and id, so a page never repeats or skips a showtime because
others were added or removed before it (an offset would). It also carries a
fingerprint of the filters: a cursor is refused by a query it was not made for.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from pydantic import BaseModel, ConfigDict, Field

from seatserver.db import MAX_ID
from seatserver.errors import BadCursor

PAGE_DEFAULT = 20
PAGE_MAX = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR_VERSION = 1
# A movie's rating from its visible reviews (migrations/0007), for a given movie id expression.
RATING_OF_MOVIE = """SELECT round(avg(stars), 2)::float8 AS average, count(*) AS count
FROM reviews WHERE movie_id = {movie} AND NOT hidden"""


class MovieQuery(BaseModel):
    """Filters of "movies now showing": each narrows to movies with a showtime that matches."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    theater: int | None = Field(default=None, ge=1, le=MAX_ID, description="A theater id.")
    city: str | None = Field(default=None, min_length=1, max_length=100,
                             description="A city, compared without regard to case.")
    date: dt.date | None = Field(default=None,
                              description="A day on the calendar of each theater's zone.")


class ShowtimeFilters(MovieQuery):
    """Filters of the showtime listing; every filter is optional."""

    movie: int | None = Field(default=None, ge=1, le=MAX_ID, description="A movie id.")
    genre: str | None = Field(default=None, min_length=1, max_length=40,
                              description="Only movies of this genre (exact).")
    screen: int | None = Field(default=None, ge=1, le=MAX_ID, description="A screen id.")


class ShowtimeQuery(ShowtimeFilters):
    """Filters and paging of the showtime listing."""

    limit: int = Field(default=PAGE_DEFAULT, ge=1, le=PAGE_MAX,
                       description=f"Showtimes per page, at most {PAGE_MAX}.")
    cursor: str | None = Field(default=None, max_length=200,
                               description="`next_cursor` of the previous page.")

    def fingerprint(self) -> str:
        """The filters (not the page) in a few characters."""
        filters = self.model_dump(mode="json", exclude={"limit", "cursor"})
        digest = hashlib.sha256(orjson.dumps(filters, option=orjson.OPT_SORT_KEYS))
        return digest.hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ended: the last showtime's start and id."""

    starts_at: datetime
    id: int


def encode_cursor(query: ShowtimeQuery, after: Position) -> str:
    micros = (after.starts_at - _EPOCH) // timedelta(microseconds=1)
    raw = orjson.dumps([_CURSOR_VERSION, micros, after.id, query.fingerprint()])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(query: ShowtimeQuery) -> Position | None:
    """The position ``query.cursor`` names; ``bad_cursor`` unless we made it for this query."""
    if query.cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(query.cursor + "=" * (-len(query.cursor) % 4))
        version, micros, showtime_id, fingerprint = orjson.loads(raw)
        valid = (version == _CURSOR_VERSION and isinstance(micros, int)
                 and isinstance(showtime_id, int) and 0 < showtime_id <= MAX_ID)
        starts_at = _EPOCH + timedelta(microseconds=micros) if valid else None
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError, OverflowError):
        valid, starts_at, fingerprint = False, None, None
    if not valid or starts_at is None:
        raise BadCursor("cursor is not one this server handed out; start from the first page")
    if fingerprint != query.fingerprint():
        raise BadCursor("cursor belongs to a query with other filters; "
                        "start from the first page")
    return Position(starts_at, showtime_id)
