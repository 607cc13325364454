"""What the admin API accepts for an endpoint: validated at the edge.

A URL is checked by ``targets.check_url`` (https, no private address); the
event types are from ``EVENT_TYPES``, each at most once; the description is
printable text without NUL or control characters.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from seatserver.db import MAX_ID
from seatserver.webhooks.targets import MAX_URL_LENGTH

EventType = Literal["seat.held", "seat.released", "seat.expired", "seat.booked",
                    "booking.paid", "booking.cancelled", "booking.refunded",
                    "showtime.sold_out"]


def _printable(text: str) -> str:
    if not text.isprintable():
        raise ValueError("only printable characters (no control characters)")
    return text


def _distinct(events: list[EventType]) -> list[EventType]:
    if len(set(events)) != len(events):
        raise ValueError("each event type at most once")
    return events


Events = Annotated[list[EventType], Field(min_length=1, max_length=8),
                   AfterValidator(_distinct)]
Description = Annotated[str, Field(max_length=200), AfterValidator(_printable)]
Url = Annotated[str, Field(min_length=1, max_length=MAX_URL_LENGTH)]


class EndpointIn(BaseModel):
    """A new endpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    url: Url = Field(description="https URL the events are POSTed to.")
    events: Events = Field(description="The event types to send.")
    showtime: int | None = Field(default=None, ge=1, le=MAX_ID,
                                 description="Only this showtime's events; all when left out.")
    description: Description = ""
    enabled: bool = True


class EndpointChange(BaseModel):
    """A change to an endpoint: only the fields given change (``showtime: null``
    widens it to every showtime)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    url: Url | None = None
    events: Events | None = None
    showtime: int | None = Field(default=None, ge=1, le=MAX_ID)
    description: Description | None = None
    enabled: bool | None = None

    @field_validator("url", "events", "description", "enabled", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null")
        return value


class DeliveryQuery(BaseModel):
    """Which deliveries of an endpoint to list, newest first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: Literal["pending", "delivered", "dead"] | None = None
    limit: int = Field(default=50, ge=1, le=500)
