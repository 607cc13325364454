"""ReviewStore: reviews in PostgreSQL, who may write them, and their pages.

Eligibility is decided in the same statement that writes the review, so a
review can never be written by someone the check would refuse. Hiding and
showing a review writes the audit row in the same transaction as the change.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses

import asyncpg
import orjson

from seatserver.audit import Actor, AuditEntry, write_audit
from seatserver.catalog.models import Rating
from seatserver.catalog.queries import RATING_OF_MOVIE
from seatserver.db import MAX_ID
from seatserver.errors import AlreadyExists, BadCursor, NotEligible, NotFound
from seatserver.personal.cipher import USERS_NAME, PersonalCipher
from seatserver.personal.erased import refuse_erased
from seatserver.personal.keys import PersonalKeys
from seatserver.reviews.models import (
    AdminReviewPage,
    AdminReviewQuery,
    ModeratedReview,
    Moderation,
    MyReview,
    Review,
    ReviewEdit,
    ReviewInput,
    ReviewPage,
    ReviewQuery,
)

_CURSOR_VERSION = 1

# Saw it: a booking of theirs that is paid (not cancelled or expired) for a
# showtime of the movie that is over.
_SAW = """
EXISTS (SELECT 1 FROM bookings b JOIN showtimes st ON st.id = b.showtime_id
        WHERE b.user_id = $1 AND st.movie_id = $2 AND b.status = 'booked'
          AND coalesce(st.ends_at, st.starts_at) < now())
"""

_COLUMNS = """
r.id, r.movie_id, u.name_sealed, u.name AS author, r.stars, r.body, r.created_at, r.updated_at,
r.user_id, r.hidden, r.hidden_reason
"""
_FROM = "FROM reviews r JOIN users u ON u.id = r.user_id"

_RATING = f"SELECT rt.average, rt.count FROM ({RATING_OF_MOVIE.format(movie='$1')}) rt"


def _moderated(cipher: PersonalCipher, row: asyncpg.Record) -> ModeratedReview:
    # The author's name is sealed at rest (clear only in a row not sealed yet).
    author = (cipher.open(row["name_sealed"], USERS_NAME, str(row["user_id"]))
              if row["name_sealed"] else row["author"])
    return ModeratedReview(
        id=row["id"], movie_id=row["movie_id"], author=author, stars=row["stars"],
        text=row["body"], created_at=row["created_at"], updated_at=row["updated_at"],
        user_id=row["user_id"], hidden=row["hidden"], hidden_reason=row["hidden_reason"])


def _public(review: ModeratedReview) -> Review:
    return Review(id=review.id, movie_id=review.movie_id, author=review.author,
                  stars=review.stars, text=review.text, created_at=review.created_at,
                  updated_at=review.updated_at)


def _encode_cursor(last_id: int, filters: object) -> str:
    raw = orjson.dumps([_CURSOR_VERSION, last_id, filters])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str | None, filters: object) -> int | None:
    """The id a page starts after (newest first); ``bad_cursor`` unless made for ``filters``."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        version, last_id, made_for = orjson.loads(raw)
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError):
        version = last_id = made_for = None
    if (version != _CURSOR_VERSION or isinstance(last_id, bool) or not isinstance(last_id, int)
            or not 0 < last_id <= MAX_ID):
        raise BadCursor("cursor is not one this server handed out; start from the first page")
    if made_for != filters:
        raise BadCursor("cursor belongs to a query with other filters; start from the first page")
    return last_id


def _page(cipher: PersonalCipher, rows: list[asyncpg.Record], limit: int, filters: object
          ) -> tuple[list[ModeratedReview], str | None]:
    reviews = [_moderated(cipher, row) for row in rows[:limit]]
    more = len(rows) > limit
    return reviews, (_encode_cursor(reviews[-1].id, filters) if more and reviews else None)


class ReviewStore:
    def __init__(self, pool: asyncpg.Pool, keys: PersonalKeys) -> None:
        self._pool = pool
        self._keys = keys

    async def _movie_exists(self, conn: asyncpg.Connection, movie_id: int) -> None:
        if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM movies WHERE id = $1)",
                                   movie_id):
            raise NotFound(f"there is no movie {movie_id}")

    async def visible(self, movie_id: int, query: ReviewQuery) -> ReviewPage:
        """A movie's visible reviews, newest first, with its rating."""
        after = _decode_cursor(query.cursor, movie_id)
        async with self._pool.acquire() as conn:
            await self._movie_exists(conn, movie_id)
            rows = await conn.fetch(
                f"""SELECT {_COLUMNS} {_FROM}
                    WHERE r.movie_id = $1 AND NOT r.hidden AND ($2::bigint IS NULL OR r.id < $2)
                    ORDER BY r.id DESC LIMIT $3""", movie_id, after, query.limit + 1)
            rating = await conn.fetchrow(_RATING, movie_id)
        reviews, cursor = _page(self._keys.cipher, rows, query.limit, movie_id)
        return ReviewPage(rating=Rating(rating["average"], rating["count"]),
                          reviews=[_public(r) for r in reviews], next_cursor=cursor)

    async def mine(self, user_id: int, movie_id: int) -> MyReview:
        async with self._pool.acquire() as conn:
            await self._movie_exists(conn, movie_id)
            eligible = await conn.fetchval(f"SELECT {_SAW}", user_id, movie_id)
            row = await conn.fetchrow(
                f"SELECT {_COLUMNS} {_FROM} WHERE r.user_id = $1 AND r.movie_id = $2",
                user_id, movie_id)
        return MyReview(eligible=eligible, review=None if row is None
                        else _moderated(self._keys.cipher, row))

    async def create(self, user_id: int, movie_id: int, data: ReviewInput) -> ModeratedReview:
        """Write the caller's review: ``not_eligible`` unless they saw the movie,
        ``already_exists`` when they have reviewed it (edit that one instead)."""
        async with self._pool.acquire() as conn, conn.transaction():
            await self._movie_exists(conn, movie_id)
            await refuse_erased(conn, user_id)
            try:
                review_id = await conn.fetchval(
                    f"""INSERT INTO reviews (user_id, movie_id, stars, body)
                        SELECT $1, $2, $3, $4 WHERE {_SAW}
                        RETURNING id""", user_id, movie_id, data.stars, data.text)
            except asyncpg.UniqueViolationError:
                raise AlreadyExists("you have reviewed this movie already: edit that review"
                                    ) from None
            if review_id is None:
                raise NotEligible("only someone who saw the movie may review it: a paid "
                                  "booking of a showtime of it that is over")
            return await self._get(conn, review_id)

    async def edit(self, user_id: int, review_id: int, data: ReviewEdit) -> ModeratedReview:
        """The author's change; someone else's review is ``not_found`` to them."""
        async with self._pool.acquire() as conn, conn.transaction():
            changed = await conn.fetchval(
                """UPDATE reviews SET stars = coalesce($3, stars), body = coalesce($4, body),
                          updated_at = now()
                   WHERE id = $1 AND user_id = $2 RETURNING id""",
                review_id, user_id, data.stars, data.text)
            if changed is None:
                raise NotFound(f"you have no review {review_id}")
            return await self._get(conn, review_id)

    async def moderated(self, query: AdminReviewQuery) -> AdminReviewPage:
        """Every review (hidden ones too) matching the filters, newest first."""
        filters = [query.movie, query.hidden]
        after = _decode_cursor(query.cursor, filters)
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                f"""SELECT {_COLUMNS} {_FROM}
                    WHERE ($1::bigint IS NULL OR r.movie_id = $1)
                      AND ($2::boolean IS NULL OR r.hidden = $2)
                      AND ($3::bigint IS NULL OR r.id < $3)
                    ORDER BY r.id DESC LIMIT $4""",
                query.movie, query.hidden, after, query.limit + 1)
        reviews, cursor = _page(self._keys.cipher, rows, query.limit, filters)
        return AdminReviewPage(reviews=reviews, next_cursor=cursor)

    async def moderate(self, review_id: int, change: Moderation, *, admin_id: int,
                       remote: str | None) -> ModeratedReview:
        """Hide or show a review; the audit row is written in the same transaction."""
        async with self._pool.acquire() as conn, conn.transaction():
            before = await self._get(conn, review_id, lock=True)
            await conn.execute(
                "UPDATE reviews SET hidden = $2, hidden_reason = $3 WHERE id = $1",
                review_id, change.hidden, change.reason if change.hidden else None)
            after = await self._get(conn, review_id)
            await write_audit(conn, AuditEntry(
                Actor.user(admin_id, remote),
                "review.hidden" if change.hidden else "review.shown",
                # Without the author's name: the audit log keeps no personal
                # data in clear (user_id says whose it is).
                before=dataclasses.replace(before, author=None),
                after=dataclasses.replace(after, author=None), note={"reason": change.reason}))
            return after

    async def _get(self, conn: asyncpg.Connection, review_id: int, *,
                   lock: bool = False) -> ModeratedReview:
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} {_FROM} WHERE r.id = $1{' FOR UPDATE OF r' if lock else ''}",
            review_id)
        if row is None:
            raise NotFound(f"there is no review {review_id}")
        return _moderated(self._keys.cipher, row)
