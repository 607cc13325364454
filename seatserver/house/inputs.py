"""Request bodies of the house-seat and counter routes, validated at the edge
(``http.bodies.read_body``: a field that does not fit is 422 ``invalid_input``
naming it)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr, model_validator

from seatserver.accounts.forms import Email

# seats.seat_id's CHECK: what a layout's ids are made of.
_SEAT = re.compile(r"[A-Za-z0-9-]{1,16}")
MAX_SEATS = 500  # a whole hall's house seats in one request, not more


def _seat(value: str) -> str:
    if not _SEAT.fullmatch(value):
        raise ValueError("a seat id is 1-16 letters A-Z, digits 0-9 or '-'")
    return value


def _distinct(seats: list[str]) -> list[str]:
    if len(set(seats)) != len(seats):
        raise ValueError("each seat once")
    return seats


def _note(value: str) -> str | None:
    value = " ".join(value.split())
    if not value.isprintable():
        raise ValueError("letters, digits and punctuation only")
    return value or None


SeatId = Annotated[StrictStr, Field(max_length=16), AfterValidator(_seat)]
Seats = Annotated[list[SeatId], Field(min_length=1, max_length=MAX_SEATS),
                  AfterValidator(_distinct)]


class BlockRequest(BaseModel):
    """Seats to block for a showtime, and why; ``other`` needs a note."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seats: Seats
    reason: Literal["house", "press", "broken", "other"]
    note: Annotated[StrictStr, Field(max_length=200), AfterValidator(_note)] | None = None

    @model_validator(mode="after")
    def _explained(self) -> BlockRequest:
        if self.reason == "other" and self.note is None:
            raise ValueError("note: say why, when the reason is other")
        return self


class SeatsRequest(BaseModel):
    """Seats to put back on online sale."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seats: Seats


class CounterSaleRequest(BaseModel):
    """A sale at the counter: the seats, how the buyer paid, and where the
    tickets go if the buyer wants them by e-mail."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seats: Annotated[list[SeatId], Field(min_length=1, max_length=100),
                     AfterValidator(_distinct)]
    method: Literal["cash", "card_present"]
    email: Email | None = None
