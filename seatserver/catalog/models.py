"""What the catalog hands out: frozen, typed, and JSON-ready as they stand.

The HTTP handlers pass these straight to ``orjson.dumps``, which writes
dataclasses field by field in declaration order and datetimes as ISO 8601 with
their UTC offset, so the field order here is the order on the wire.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Price:
    """Integer minor units (cents) plus an ISO 4217 currency; never a float."""

    amount: int
    currency: str


@dataclass(frozen=True, slots=True)
class Seat:
    id: str
    row: str
    number: int
    type: str
    # Position on the screen's drawing grid, in seat widths; gaps are empty cells.
    x: int
    y: int
    accessible: bool
    # The wheelchair space this seat accompanies (a seat beside it), if any.
    companion_of: str | None


@dataclass(frozen=True, slots=True)
class PricedSeat:
    """A seat as ``GET /api/showtimes/{id}`` lists it; no price = not on sale."""

    id: str
    row: str
    number: int
    type: str
    price: Price | None
    x: int
    y: int
    accessible: bool
    companion_of: str | None


@dataclass(frozen=True, slots=True)
class SeatingRules:
    """A showtime's seating rules, enforced by the hold scripts."""

    # No hold may leave a single free seat alone (unless every choice would).
    no_orphans: bool
    # Companion seats are sold to anyone, not only with their wheelchair space.
    companions_alone: bool


@dataclass(frozen=True, slots=True)
class ShowtimeLayout:
    """The seats of one showtime, for validating seat ids on every hold, and
    what the seating rules need (holds.geometry.SeatingPlan)."""

    showtime_id: int
    seats: dict[str, Seat]
    # Seat count per seat type (kiosk summaries count free seats per type).
    types: dict[str, int]
    # Where the screen is drawn ("top": the first row is the front one).
    screen: str = "top"
    no_orphans: bool = True
    companions_alone: bool = False

    def unknown(self, seat_ids: Iterable[str]) -> list[str]:
        """The ids in ``seat_ids`` that are not seats of this showtime."""
        return [s for s in seat_ids if s not in self.seats]


@dataclass(frozen=True, slots=True)
class Movie:
    id: int
    title: str
    synopsis: str
    runtime_min: int
    certificate: str | None
    poster_url: str | None
    # BCP 47 tags of the spoken languages ("en", "de"), and free-form genres.
    languages: list[str]
    genres: list[str]
    slug: str


@dataclass(frozen=True, slots=True)
class Rating:
    """A movie's visible reviews: their mean stars (None without any) and number."""

    average: float | None
    count: int


@dataclass(frozen=True, slots=True)
class RatedMovie(Movie):
    """A movie as the public listing shows it: with its reviews' rating."""

    rating: Rating


@dataclass(frozen=True, slots=True)
class Theater:
    id: int
    name: str
    city: str
    address: str
    time_zone: str
    slug: str
    # Minutes the screens need between two shows; new showtimes copy it.
    cleaning_min: int


@dataclass(frozen=True, slots=True)
class Screen:
    id: int
    name: str
    # Drawing hints for the seat map, e.g. {"width": 19, "height": 12}.
    layout: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Showtime:
    """What every view of a showtime starts with (fields in wire order)."""

    id: int
    # In the theater's time zone, so a client can show it as it is.
    starts_at: datetime
    currency: str
    movie: Movie
    theater: Theater
    screen: Screen
    prices: dict[str, Price]
    # starts_at + the movie's runtime (the screen is then cleaned).
    ends_at: datetime
    # Seats can be bought until then (settings.sales_close_min before the start).
    sales_close_at: datetime
    seating: SeatingRules


@dataclass(frozen=True, slots=True)
class ShowtimeSummary(Showtime):
    """One entry of ``GET /api/showtimes``."""

    # Free seats per seat type (cheapest first); None when the seat service
    # cannot be asked right now.
    free: dict[str, int] | None = None


@dataclass(frozen=True, slots=True)
class ShowtimeDetail(Showtime):
    """``GET /api/showtimes/{id}``: the showtime and its priced seat map."""

    seats: list[PricedSeat]


@dataclass(frozen=True, slots=True)
class ShowtimePage:
    """One page of a showtime query; ``next_cursor`` asks for the next one."""

    showtimes: list[ShowtimeSummary]
    next_cursor: str | None
    # "live": every showtime has its free-seat counts; "unavailable": the seat
    # service could not be asked, so `free` is null and the notice says why.
    availability: str = "live"
    notice: str | None = None
