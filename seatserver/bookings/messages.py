"""The message a buyer gets when a booking is confirmed (outbox kind ``booking_confirmed``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seatserver.bookings.store import BookingStore
from seatserver.bookings.tickets import TicketSigner
from seatserver.outbox.messages import Message


class BookingComposer:
    """Turns a ``booking_confirmed`` outbox row into the message the buyer reads."""

    def __init__(self, store: BookingStore, tickets: TicketSigner) -> None:
        self._store = store
        self._tickets = tickets

    async def compose(self, row_id: int, kind: str, payload: Mapping[str, Any]) -> Message:
        if kind != "booking_confirmed":
            raise ValueError(f"no message for outbox kind {kind!r}")
        reference = str(payload["reference"])
        booking = await self._store.get(reference)
        sale = await self._store.sale(booking.showtime) if booking else None
        if booking is None or sale is None:
            raise LookupError(f"booking {reference} is gone")
        seats = "\n".join(f"  {s.id}  {s.type:<10} {_money(s.price.amount, s.price.currency)}"
                          for s in booking.seats)
        text = (
            f"Your booking {reference} is confirmed.\n\n"
            f"Showtime {booking.showtime}, starting {sale.starts_at:%Y-%m-%d %H:%M %Z}\n"
            f"Seats:\n{seats}\n"
            f"Total: {_money(booking.total.amount, booking.total.currency)}\n\n"
            f"Ticket: {self._tickets.issue(reference)}\n"
            f"Receipt and QR code: /bookings/{reference}\n")
        return Message(row_id, kind, f"user:{booking.user_id}",
                       f"Your booking {reference} is confirmed", text)


def _money(amount: int, currency: str) -> str:
    return f"{amount // 100}.{amount % 100:02d} {currency}"
