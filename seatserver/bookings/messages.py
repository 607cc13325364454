"""The message a buyer gets when a booking is confirmed (outbox kind ``booking_confirmed``).

It says everything the buyer needs without opening anything: the film, the
cinema and screen, the start as the theater's clocks show it, the seats in
order, the total, and the absolute ticket link (``links.TicketLinks``) that
opens the ticket and its QR code on any device. The calendar entry
(``calendar.booking_ics``) is attached. It goes to the address the booking
was made with (a guest's, or the account's copied at checkout).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seatserver.bookings.calendar import booking_ics
from seatserver.bookings.links import TicketLinks
from seatserver.bookings.models import Booking
from seatserver.bookings.receipt import format_money, format_start, seat_name, type_name
from seatserver.bookings.store import BookingStore
from seatserver.bookings.tickets import TicketSigner
from seatserver.catalog.models import ShowtimeDetail
from seatserver.catalog.store import CatalogStore
from seatserver.outbox.messages import Attachment, Message

ICS_TYPE = "text/calendar; charset=utf-8; method=PUBLISH"


class BookingComposer:
    """Turns a ``booking_confirmed`` outbox row into the message the buyer reads."""

    def __init__(self, store: BookingStore, catalog: CatalogStore, tickets: TicketSigner,
                 links: TicketLinks) -> None:
        self._store = store
        self._catalog = catalog
        self._tickets = tickets
        self._links = links

    async def compose(self, row_id: int, kind: str, payload: Mapping[str, Any]) -> Message:
        if kind != "booking_confirmed":
            raise ValueError(f"no message for outbox kind {kind!r}")
        reference = str(payload["reference"])
        booking = await self._store.get(reference)
        show = await self._catalog.get_showtime(booking.showtime) if booking else None
        if booking is None or show is None:
            raise LookupError(f"booking {reference} is gone")
        link = self._links.url(reference)
        names = [seat_name(show, s.id) for s in booking.seats]
        calendar = booking_ics(booking, show, link=link, seats=names)
        # A booking from before contact addresses were kept: to its account, by id.
        to = booking.email or f"user:{booking.user_id}"
        return Message(
            row_id, kind, to,
            f"Your booking {reference} is confirmed: {show.movie.title}, "
            f"{format_start(show.starts_at)}",
            self._text(booking, show, names, link),
            (Attachment(f"booking-{reference}.ics", ICS_TYPE, calendar.encode()),))

    def _text(self, booking: Booking, show: ShowtimeDetail, names: list[str],
              link: str) -> str:
        money = format_money
        seats = "\n".join(
            f"  {name:<20} {type_name(s.type):<10} {money(s.price.amount, s.price.currency)}"
            for name, s in zip(names, booking.seats, strict=True))
        return (
            f"Your booking {booking.reference} is confirmed.\n\n"
            f"{show.movie.title}\n"
            f"{format_start(show.starts_at)} ({show.theater.time_zone} time)\n"
            f"{show.theater.name}, {show.screen.name}\n"
            f"{show.theater.address}\n\n"
            f"Seats:\n{seats}\n"
            f"Total: {money(booking.total.amount, booking.total.currency)}\n\n"
            f"Your ticket and its QR code, on any device:\n  {link}\n\n"
            f"Ticket: {self._tickets.issue(booking.reference)}\n"
            "Show the QR code at the door; it admits once. The calendar entry is attached.\n")
