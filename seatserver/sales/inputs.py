"""The query of every sales report: a range of days, optionally one movie.

A day is written ``YYYY-MM-DD`` in ASCII digits (pydantic alone would also
take a Unix time, and ``re``'s ``\\d`` takes Arabic-Indic digits), between 2000 and 2100, and
a range spans at most ``MAX_DAYS`` days: a report over ten years would read
every booking there is.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from seatserver.db import MAX_ID

MAX_DAYS = 366
DEFAULT_DAYS = 7
FIRST_YEAR, LAST_YEAR = 2000, 2100
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class SalesRange(BaseModel):
    """Showtimes starting on the days ``from`` to ``to`` (both included) on
    the calendar of each showtime's theater."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    start: dt.date | None = Field(default=None, alias="from", description=(
        "First day, YYYY-MM-DD (default: the earliest of the theaters' dates now, "
        "so that every theater's today is in the range)."))
    end: dt.date | None = Field(default=None, alias="to", description=(
        f"Last day, YYYY-MM-DD, at most {MAX_DAYS} days after `from` "
        f"(default: {DEFAULT_DAYS - 1} days after it)."))
    movie: int | None = Field(default=None, ge=1, le=MAX_ID, description="Only this movie.")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _a_day(cls, value: Any) -> Any:
        if not isinstance(value, str) or not _DAY.fullmatch(value):
            raise ValueError("a day is written YYYY-MM-DD")
        day = dt.date.fromisoformat(value)  # ValueError for 2024-02-30
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise ValueError(f"a day between {FIRST_YEAR} and {LAST_YEAR}")
        return day

    @model_validator(mode="after")
    def _a_range(self) -> SalesRange:
        if self.start is not None and self.end is not None:
            if self.end < self.start:
                raise ValueError("`to` is before `from`")
            if (self.end - self.start).days + 1 > MAX_DAYS:
                raise ValueError(f"a range spans at most {MAX_DAYS} days")
        return self

    def days(self, today: dt.date) -> tuple[dt.date, dt.date]:
        """The first and last day, defaults filled in from ``today``."""
        start = self.start or (today if self.end is None
                               else max(self.end - dt.timedelta(days=DEFAULT_DAYS - 1),
                                        dt.date(FIRST_YEAR, 1, 1)))
        end = self.end or min(start + dt.timedelta(days=DEFAULT_DAYS - 1),
                              dt.date(LAST_YEAR, 12, 31))
        return start, end
