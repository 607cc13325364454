"""What an admin sends to set a showtime's sale settings: typed, bounded.

Strict types (a number is a JSON number, a switch a JSON boolean), unknown
fields refused, every number bounded as the table's CHECKs are: hostile
input is ``invalid_input`` naming the field, never a database error.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)

from seatserver.settings import MAX_ADMISSION, MAX_ADMISSION_TTL_S, MIN_ADMISSION_TTL_S

# On-sale times outside these years are typing errors, not plans.
FIRST_YEAR, LAST_YEAR = 2000, 2100

Rate = Annotated[StrictInt, Field(ge=0, le=MAX_ADMISSION, description="Buyers admitted per "
                  "minute (0: no rate, the cap alone paces admission).")]
Cap = Annotated[StrictInt, Field(ge=0, le=MAX_ADMISSION, description="Buyers admitted and "
                 "active at once (0: no cap, the rate alone paces admission).")]
Lifetime = Annotated[StrictInt, Field(ge=MIN_ADMISSION_TTL_S, le=MAX_ADMISSION_TTL_S,
                     description="Seconds an admission lasts unused; every hold renews it.")]


def _written(value: object) -> object:
    """An on-sale time as JSON writes one: an ISO 8601 string (pydantic would
    also read a number as seconds since 1970, which no admin means)."""
    if value is not None and not isinstance(value, str | dt.datetime):
        raise ValueError("an ISO 8601 date and time with its UTC offset, as a string")
    return value


OnSaleAt = Annotated[AwareDatetime, BeforeValidator(_written)]


def _sane_year(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"an on-sale time between {FIRST_YEAR} and {LAST_YEAR}")
    return value


class SaleInput(BaseModel):
    """A showtime's sale settings, whole (``PUT``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    on_sale_at: OnSaleAt | None = Field(
        default=None, description="With its UTC offset; null: the deployment's default "
        "(SEATSERVER_ONSALE_BEFORE before the start), or on sale at once without one. Buyers "
        "who arrive before it are shuffled at random when it comes.")
    waiting_room: StrictBool = Field(description="Admit buyers from a queue before they "
                                     "may hold seats.")
    admission_rate: Rate
    active_cap: Cap
    admission_ttl_s: Lifetime

    @field_validator("on_sale_at")
    @classmethod
    def _year(cls, value: dt.datetime | None) -> dt.datetime | None:
        return _sane_year(value)

    @model_validator(mode="after")
    def _admits_someone(self) -> Self:
        if self.waiting_room and not (self.admission_rate or self.active_cap):
            raise ValueError("a waiting room needs admission_rate or active_cap above 0, "
                             "or nobody is ever admitted")
        return self


class SalePatch(BaseModel):
    """Some of a showtime's sale settings (``PATCH``): the operator turning
    the rate or the cap up or down while buyers wait. Fields left out keep
    their value; the result must still be valid settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    on_sale_at: OnSaleAt | None = None
    waiting_room: StrictBool | None = None
    admission_rate: Rate | None = None
    active_cap: Cap | None = None
    admission_ttl_s: Lifetime | None = None

    @field_validator("on_sale_at")
    @classmethod
    def _year(cls, value: dt.datetime | None) -> dt.datetime | None:
        return _sane_year(value)

    def merged(self, current: SaleInput) -> dict[str, object]:
        """``current`` with the fields this patch sets (to validate as a whole)."""
        return {**current.model_dump(), **self.model_dump(exclude_unset=True)}
