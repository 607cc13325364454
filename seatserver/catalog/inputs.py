"""What an admin sends to create or change the catalog: typed, validated models.

These are the request bodies of the admin API to come (and its OpenAPI
schemas, generated from them). Validation that needs no database happens
here; ``CatalogAdminStore`` checks the rest (seat types, currencies,
overlaps) and says what is wrong with a coded error.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
)

from seatserver.catalog.layouts import SEAT_TYPE_PATTERN, SeatLayout, layout_error_message
from seatserver.db import MAX_ID
from seatserver.errors import BadLayout, CodedError
from seatserver.http.bodies import invalid_input, validated

SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"  # as the tables' CHECK
CURRENCY_PATTERN = r"^[A-Z]{3}$"
# A BCP 47 language tag as used for film languages: "en", "de", "pt-BR", "zh-Hant".
LANGUAGE_PATTERN = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
MAX_AMOUNT = 10_000_000  # minor units: 100,000.00 is no cinema seat

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Slug = Annotated[str, Field(min_length=1, max_length=80, pattern=SLUG_PATTERN)]
Currency = Annotated[str, Field(pattern=CURRENCY_PATTERN, description="ISO 4217 code.")]


def _time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
    return name


def _distinct(values: list[str]) -> list[str]:
    seen = [v for i, v in enumerate(values) if v in values[:i]]
    if seen:
        raise ValueError(f"listed twice: {', '.join(sorted(set(seen)))}")
    return values


# C0 and C1 controls (U+0085 is a line break too) and the bidirectional
# embeddings and overrides (U+202A-U+202E), which can make a title read as
# another one (the isolates U+2066-U+2069 and the marks stay: right-to-left
# titles need them); in one-line text also tab, CR, LF and the Unicode line
# and paragraph separators. The import checks its cells with the same.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]")
CONTROL_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]")


def control_found(text: str, *, one_line: bool) -> str | None:
    """What is wrong with ``text``'s characters, in words; None if nothing."""
    found = (CONTROL_ONE_LINE if one_line else CONTROL).search(text)
    if found is None:
        return None
    char = found.group()
    what = ("line break" if char in "\u2028\u2029" else
            "bidirectional override" if "\u202a" <= char <= "\u202e" else "control character")
    return f"contains the {what} U+{ord(char):04X}"


def _plain(one_line: bool) -> AfterValidator:
    def check(text: str) -> str:
        problem = control_found(text, one_line=one_line)
        if problem:
            raise ValueError(problem)
        return text
    return AfterValidator(check)


M = TypeVar("M", bound=BaseModel)
TimeZone = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_time_zone)]
# Text shown to buyers and staff: one line (a name, a title), or several (a synopsis).
OneLine = Annotated[str, _plain(one_line=True)]
Lines = Annotated[str, _plain(one_line=False)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class MovieInput(_Input):
    slug: Slug = Field(description="Stable key in URLs and imports: `northern-lights`.")
    title: OneLine = Field(min_length=1, max_length=200)
    synopsis: Lines = Field(default="", max_length=5000)
    runtime_min: int = Field(ge=1, le=1440, description="Running time in minutes.")
    certificate: OneLine | None = Field(default=None, min_length=1, max_length=16,
                                    description="Age rating, e.g. `12`, `PG-13`.")
    poster_url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://\S+$")
    languages: Annotated[list[Annotated[str, Field(pattern=LANGUAGE_PATTERN)]],
                         AfterValidator(_distinct)] = Field(default_factory=list, max_length=20)
    genres: Annotated[list[Annotated[OneLine, Field(min_length=1, max_length=40)]],
                      AfterValidator(_distinct)] = Field(default_factory=list, max_length=20)
    released_on: dt.date | None = None


class TheaterInput(_Input):
    slug: Slug
    name: OneLine = Field(min_length=1, max_length=200)
    city: OneLine = Field(min_length=1, max_length=100)
    address: Lines = Field(default="", max_length=500)
    time_zone: TimeZone = Field(description="IANA name; weekends are judged in it.")
    cleaning_min: int = Field(default=15, ge=0, le=240,
                              description="Minutes a screen is kept free after each show.")


class ScreenInput(_Input):
    theater_id: Id
    name: OneLine = Field(min_length=1, max_length=100)
    layout: SeatLayout


class ShowtimeInput(_Input):
    movie_id: Id
    screen_id: Id
    starts_at: AwareDatetime = Field(description="With its UTC offset.")
    currency: Currency | None = Field(
        default=None, description="Default: the currency of the theater's price rules.")
    cleaning_min: int | None = Field(default=None, ge=0, le=240,
                                     description="Default: the theater's.")
    no_orphans: StrictBool | None = Field(
        default=None, description="Refuse holds that leave a single free seat alone "
        "(unless every choice would). Default: on for a new showtime; unchanged on an edit.")
    companions_alone: StrictBool | None = Field(
        default=None, description="Sell companion seats to anyone, not only with their "
        "wheelchair space. Default: off for a new showtime; unchanged on an edit.")

    @field_validator("starts_at")
    @classmethod
    def _whole_minutes(cls, value: dt.datetime) -> dt.datetime:
        # Schedules are in minutes; a stray second would make "touching" shows overlap.
        if value.second or value.microsecond:
            raise ValueError("a showtime starts on a whole minute")
        return value


class PriceRuleInput(_Input):
    theater_id: Id
    seat_type: str = Field(pattern=SEAT_TYPE_PATTERN)
    day_kind: Literal["weekday", "weekend"] = Field(
        description="Saturday and Sunday in the theater's time zone are the weekend.")
    amount: int = Field(ge=0, le=MAX_AMOUNT, description="Minor units (cents).")
    currency: Currency


class PriceOverrideInput(_Input):
    seat_type: str = Field(pattern=SEAT_TYPE_PATTERN)
    amount: int = Field(ge=0, le=MAX_AMOUNT, description="Minor units, the showtime's currency.")


def parse_input(model: type[M], data: Any) -> M:
    """Validate a request body; ``bad_layout`` or ``invalid_input`` saying where."""
    return validated(model, data, input_error)


def input_error(err: ValidationError, data: Any) -> CodedError:
    """The coded error of a failed validation: a layout's names its row and seat."""
    if tuple(err.errors()[0]["loc"])[:1] == ("layout",):
        return BadLayout(layout_error_message(err, data, prefix=("layout",)))
    return invalid_input(err, data)
