"""The door: is this ticket good for entry, and admitting it once.

A scanner reads the ticket id from the QR code and asks. The signature
(``TicketSigner``) tells a genuine id from a forged or altered one; the
booking tells whether it still admits anyone: only a ``booked`` booking does
(a cancelled one was refunded), only for its own showtime, and only once.
The first admission is recorded (``ticket_scans``, unique per booking), so a
copied ticket shown a second time is answered "already admitted at ..." by
whichever scanner sees it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from seatserver.bookings.models import Booking
from seatserver.bookings.receipt import format_start, seat_name
from seatserver.bookings.store import BookingStore
from seatserver.bookings.tickets import TicketSigner
from seatserver.catalog.models import ShowtimeDetail
from seatserver.catalog.store import CatalogStore

# What a check found; ``valid`` is true for the first two only.
#   ok                the ticket admits (checked, not admitted)
#   admitted          admitted now
#   already_admitted  admitted before (``admitted_at`` says when)
#   not_genuine       not signed with our key: forged, altered or misread
#   unknown_booking   signed, but no such booking
#   not_booked        the booking is not (or no longer) booked: cancelled, expired, unpaid
#   other_showtime    a good ticket for another showtime
_MESSAGES = {
    "ok": "Valid ticket.",
    "admitted": "Valid ticket: admitted.",
    "already_admitted": "Already admitted: this ticket was used before.",
    "not_genuine": "Not a genuine ticket.",
    "unknown_booking": "No such booking.",
    "not_booked": "This booking does not admit anyone: it is {status}.",
    "other_showtime": "This ticket is for another showtime: {show}.",
}


@dataclass(frozen=True, slots=True)
class TicketSeat:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class TicketShow:
    id: int
    title: str
    starts_at: datetime
    theater: str
    screen: str


@dataclass(frozen=True, slots=True)
class TicketCheck:
    valid: bool
    result: str
    message: str
    reference: str | None = None
    status: str | None = None
    show: TicketShow | None = None
    seats: list[TicketSeat] = field(default_factory=list)
    admitted_at: datetime | None = None


class Door:
    def __init__(self, store: BookingStore, catalog: CatalogStore,
                 signer: TicketSigner) -> None:
        self._store = store
        self._catalog = catalog
        self._signer = signer

    async def check(self, ticket: str, *, showtime: int | None) -> TicketCheck:
        """Whether the ticket would admit now; changes nothing."""
        found = await self._find(ticket, showtime)
        if isinstance(found, TicketCheck):
            return found
        booking, detail = found
        admitted_at = await self._store.admission(booking.reference)
        if admitted_at is not None:
            return _answer("already_admitted", booking, detail, admitted_at)
        return _answer("ok", booking, detail)

    async def admit(self, ticket: str, *, showtime: int | None, actor: str,
                    remote: str | None) -> TicketCheck:
        """Admit the ticket's holder, once; every later scan is refused."""
        found = await self._find(ticket, showtime)
        if isinstance(found, TicketCheck):
            await self._store.audit(actor, "ticket.refused", remote,
                                    {"ticket": ticket[:64], "result": found.result})
            return found
        booking, detail = found
        first, at = await self._store.admit(booking.reference, actor=actor, remote=remote)
        if at is None:  # cancelled between the check and the admission
            fresh = await self._store.get(booking.reference)
            return _answer("not_booked", fresh or booking, detail)
        return _answer("admitted" if first else "already_admitted", booking, detail, at)

    async def _find(self, ticket: str, showtime: int | None
                    ) -> tuple[Booking, ShowtimeDetail | None] | TicketCheck:
        reference = self._signer.verify(ticket)
        if reference is None:
            return TicketCheck(False, "not_genuine", _MESSAGES["not_genuine"])
        booking = await self._store.get(reference)
        if booking is None:
            return TicketCheck(False, "unknown_booking", _MESSAGES["unknown_booking"],
                               reference)
        detail = await self._catalog.get_showtime(booking.showtime)
        if booking.status != "booked":
            return _answer("not_booked", booking, detail)
        if showtime is not None and showtime != booking.showtime:
            return _answer("other_showtime", booking, detail)
        return booking, detail


def _answer(result: str, booking: Booking, detail: ShowtimeDetail | None,
            admitted_at: datetime | None = None) -> TicketCheck:
    show = None
    where = f"showtime {booking.showtime}"
    if detail is not None:
        show = TicketShow(detail.id, detail.movie.title, detail.starts_at,
                          detail.theater.name, detail.screen.name)
        where = f"{show.title}, {format_start(show.starts_at)}"
    seats = [TicketSeat(s.id, seat_name(detail, s.id)) for s in booking.seats]
    message = _MESSAGES[result].format(status=booking.status, show=where)
    return TicketCheck(result in ("ok", "admitted"), result, message, booking.reference,
                       booking.status, show, seats, admitted_at)
