"""The event types endpoints subscribe to, and seat events from stream entries.

Seat events come from the showtimes' Redis streams (``changefeed.Event``);
booking events and ``showtime.sold_out`` are written by PostgreSQL triggers
in the transaction of the change (migrations/0015_webhooks.sql). docs/api.md
shows every payload.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from seatserver.changefeed.events import Event

SEAT_EVENTS = ("seat.held", "seat.released", "seat.expired", "seat.booked")
BOOKING_EVENTS = ("booking.paid", "booking.cancelled", "booking.refunded")
EVENT_TYPES = (*SEAT_EVENTS, *BOOKING_EVENTS, "showtime.sold_out")

# A stream entry's kind -> the event it is. A cancel frees seats that were
# booked: to a receiver they are released (``reason`` says which way).
_SEAT_EVENT = {"hold": "seat.held", "release": "seat.released", "cancel": "seat.released",
               "expire": "seat.expired", "book": "seat.booked"}


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds")


def seat_event(showtime: int, event: Event) -> tuple[str, dict[str, Any], dt.datetime] | None:
    """``(type, data, when)`` of a stream entry, or None for kinds no webhook tells."""
    kind = _SEAT_EVENT.get(event.kind)
    if kind is None or not event.seats:
        return None
    data: dict[str, Any] = {"showtime": showtime, "seats": list(event.seats),
                            "reason": event.kind, "offset": event.offset}
    if event.kind == "hold" and event.deadline is not None:
        data["expires_at"] = _iso(event.deadline)
    when = dt.datetime.fromtimestamp(event.position[0] / 1000, dt.UTC)
    return kind, data, when
