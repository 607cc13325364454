"""Bookings as the API hands them out; field order is the order on the wire."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from seatserver.catalog.models import Price


@dataclass(frozen=True, slots=True)
class BookedSeat:
    id: str
    type: str
    price: Price


@dataclass(frozen=True, slots=True)
class PaymentView:
    provider: str
    order_id: str
    # created -> authorized -> captured | failed | refunded | partially_refunded
    status: str
    refunded: Price


@dataclass(frozen=True, slots=True)
class Booking:
    reference: str
    showtime: int
    # pending -> booked | expired | cancelled (see docs/bookings.md)
    status: str
    total: Price
    seats: list[BookedSeat]
    payment: PaymentView | None
    # Until then the seats stay held for the payment.
    hold_deadline: datetime
    # Set when support should look at it, e.g. "late_payment_refunded".
    attention: str | None
    created_at: datetime
    # Where the confirmation and the ticket link go: the address a guest gave,
    # or the account's (copied at checkout); None for bookings made before.
    email: str | None
    phone: str | None
    user_id: int

    @property
    def seat_ids(self) -> list[str]:
        return [s.id for s in self.seats]

    @property
    def holder(self) -> str:
        """The hold engine's holder id of the buyer."""
        return str(self.user_id)


@dataclass(frozen=True, slots=True)
class Contact:
    """Where the buyer wants the confirmation. A guest's e-mail address; None
    for a signed-in buyer, whose account's address is used."""

    email: str | None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class Sale:
    """What checkout needs to know about a showtime to sell its seats."""

    showtime: int
    starts_at: datetime
    currency: str
    prices: dict[str, int]  # seat type -> amount; a missing type is not on sale
