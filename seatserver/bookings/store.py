"""BookingStore: bookings, their seats and payments in PostgreSQL.

Every status change happens here, in one transaction with the booking row
locked, together with its seats' ``active`` flag (what the unique index
arbitrates), the audit entry and any outbox message. Redis is told afterwards
by the caller, with idempotent scripts, so a failure between the two is
repaired by repeating the Redis step (or by reconciliation).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from seatserver.audit import as_json, insert_audit
from seatserver.bookings.gateway import PaymentEvent
from seatserver.bookings.models import BookedSeat, Booking, Contact, PaymentView, Sale
from seatserver.bookings.seat_order import in_seat_order
from seatserver.catalog.models import Price
from seatserver.errors import SeatsUnavailable
from seatserver.personal.cipher import (
    BOOKINGS_EMAIL,
    BOOKINGS_PHONE,
    FORMAT,
    USERS_EMAIL,
    USERS_PHONE,
)
from seatserver.personal.erased import refuse_erased
from seatserver.personal.keys import PersonalKeys

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read over the phone

_BOOKING = """
SELECT b.id, b.reference, b.user_id, b.showtime_id, b.status, b.amount, b.currency,
       b.hold_deadline, b.attention, b.created_at,
       coalesce(b.contact_email_sealed, b.contact_email) AS contact_email,
       coalesce(b.contact_phone_sealed, b.contact_phone) AS contact_phone,
       p.provider, p.provider_order_id, p.status AS payment_status, p.refunded_amount
FROM bookings b LEFT JOIN payments p ON p.booking_id = b.id
"""


def new_reference() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(10))


@dataclass(frozen=True, slots=True)
class SeatLine:
    seat_id: str
    seat_type: str
    amount: int


@dataclass(frozen=True, slots=True)
class ActiveSale:
    """A pending or booked booking as Redis must mirror it."""

    reference: str
    status: str
    holder: str
    deadline: datetime
    seats: list[str]


@dataclass(frozen=True, slots=True)
class EventOutcome:
    """What applying a payment event did; ``refund``: the caller must refund
    the booking's total (a late payment for seats sold meanwhile)."""

    # duplicate | mismatch | booked | reacquired | refund | expired | ignored | recorded
    result: str
    booking: Booking


class BookingStore:
    """Bookings in PostgreSQL. The buyer's contact is sealed at rest
    (``seatserver.personal``): inside this module a Booking carries it
    sealed (so an audit entry of a booking shows no address), and every
    Booking this store hands out has it opened."""

    def __init__(self, pool: asyncpg.Pool, keys: PersonalKeys) -> None:
        self._pool = pool
        self._keys = keys

    def _opened(self, booking: Booking) -> Booking:
        cipher, key = self._keys.cipher, booking.reference

        def value(text: str | None, field: str) -> str | None:
            # Not "v1:": a clear value of a row the server has not sealed yet.
            if text is None or not text.startswith(f"{FORMAT}:"):
                return text
            return cipher.open(text, field, key)
        return dataclasses.replace(booking, email=value(booking.email, BOOKINGS_EMAIL),
                                   phone=value(booking.phone, BOOKINGS_PHONE))

    def _maybe_opened(self, booking: Booking | None) -> Booking | None:
        return None if booking is None else self._opened(booking)

    async def _contact(self, conn: asyncpg.Connection, user_id: int, reference: str,
                       contact: Contact | None) -> tuple[str | None, str | None]:
        """The booking's contact, sealed for its row: the one given, else the
        account's address and phone (copied: the message goes where the
        buyer saw it would)."""
        cipher = self._keys.cipher
        email, phone = (contact.email, contact.phone) if contact else (None, None)
        if email is None or phone is None:
            row = await conn.fetchrow(
                "SELECT email_sealed, email, phone_sealed, phone FROM users WHERE id = $1",
                user_id)
            key = str(user_id)
            if row is not None and email is None:
                email = (cipher.open(row["email_sealed"], USERS_EMAIL, key)
                         if row["email_sealed"] else row["email"])
            if row is not None and phone is None:
                phone = (cipher.open(row["phone_sealed"], USERS_PHONE, key)
                         if row["phone_sealed"] else row["phone"])
        return (cipher.seal_optional(email, BOOKINGS_EMAIL, reference),
                cipher.seal_optional(phone, BOOKINGS_PHONE, reference))

    async def sale(self, showtime: int) -> Sale | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT starts_at, currency FROM showtimes WHERE id = $1", showtime)
            if row is None:
                return None
            prices = await conn.fetch(
                "SELECT seat_type, amount FROM showtime_prices WHERE showtime_id = $1",
                showtime)
        return Sale(showtime, row["starts_at"], row["currency"],
                    {p["seat_type"]: p["amount"] for p in prices})

    async def create_pending(self, *, user_id: int, sale: Sale, lines: Sequence[SeatLine],
                             deadline: datetime, remote: str | None,
                             contact: Contact | None = None) -> Booking:
        """The pending booking and its seats, in one transaction; the unique index
        refuses seats another live booking has (``SeatsUnavailable`` naming them).

        The confirmation goes to ``contact`` (a guest's), else to the account's
        address as it is now.

        The buyer's own pending bookings that share a seat with this one are
        superseded (expired) in the same transaction: a buyer who comes back
        from the payment page and checks out again starts a new payment, and
        never finds their own seats "sold". Paying the old order after all is
        a late payment: refunded, since the new booking has the seats.

        An account erased meanwhile (its session was checked before the
        erasure committed) gets no booking: ``Unauthorized``.
        """
        reference = new_reference()
        total = sum(line.amount for line in lines)
        actor = f"user:{user_id}"
        async with self._pool.acquire() as conn:
            try:
                async with conn.transaction():
                    await refuse_erased(conn, user_id)
                    await _supersede(conn, user_id, sale.showtime,
                                     [ln.seat_id for ln in lines], reference, remote)
                    email, phone = await self._contact(conn, user_id, reference, contact)
                    booking_id: int = await conn.fetchval(
                        """INSERT INTO bookings (reference, user_id, showtime_id, amount,
                                                 currency, hold_deadline,
                                                 contact_email_sealed, contact_phone_sealed)
                           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id""",
                        reference, user_id, sale.showtime, total, sale.currency, deadline,
                        email, phone)
                    await conn.executemany(
                        """INSERT INTO booking_seats (booking_id, showtime_id, seat_id,
                                                      seat_type, amount)
                           VALUES ($1, $2, $3, $4, $5)""",
                        [(booking_id, sale.showtime, ln.seat_id, ln.seat_type, ln.amount)
                         for ln in lines])
                    await _audit(conn, actor, "booking.created", booking_id, remote,
                                 {"seats": [ln.seat_id for ln in lines], "amount": total,
                                  "currency": sale.currency})
            except asyncpg.UniqueViolationError:
                taken = await conn.fetch(
                    """SELECT seat_id FROM booking_seats
                       WHERE showtime_id = $1 AND active AND seat_id = any($2::text[])""",
                    sale.showtime, [ln.seat_id for ln in lines])
                seats = sorted(r["seat_id"] for r in taken)
                raise SeatsUnavailable(f"already sold: {', '.join(seats)}", seats) from None
            return self._opened(await _load(conn, "b.id = $1", booking_id))

    async def attach_payment(self, reference: str, provider: str, order_id: str) -> Booking:
        async with self._pool.acquire() as conn, conn.transaction():
            booking = await _load(conn, "b.reference = $1", reference)
            await conn.execute(
                """INSERT INTO payments (booking_id, provider, provider_order_id, amount, currency)
                   SELECT id, $2, $3, amount, currency FROM bookings WHERE reference = $1""",
                reference, provider, order_id)
            return self._opened(await _load(conn, "b.reference = $1", booking.reference))

    async def get(self, reference: str) -> Booking | None:
        async with self._pool.acquire() as conn:
            return self._maybe_opened(await _maybe(conn, "b.reference = $1", reference))

    async def by_order(self, provider: str, order_id: str) -> Booking | None:
        async with self._pool.acquire() as conn:
            return self._maybe_opened(await _maybe(
                conn, "p.provider = $1 AND p.provider_order_id = $2", provider, order_id))

    async def admission(self, reference: str) -> datetime | None:
        """When the booking's ticket was admitted at the door, if it was."""
        async with self._pool.acquire() as conn:
            at: datetime | None = await conn.fetchval(
                """SELECT t.admitted_at FROM ticket_scans t
                   JOIN bookings b ON b.id = t.booking_id WHERE b.reference = $1""",
                reference)
        return at

    async def admit(self, reference: str, *, actor: str, remote: str | None
                    ) -> tuple[bool, datetime | None]:
        """Record the ticket's admission once: (True, now) the first time,
        (False, when) after; (False, None) when the booking is not booked.
        The booking row is share-locked, so a cancel cannot slip in between."""
        async with self._pool.acquire() as conn, conn.transaction():
            booking_id = await conn.fetchval(
                "SELECT id FROM bookings WHERE reference = $1 AND status = 'booked' FOR SHARE",
                reference)
            if booking_id is None:
                return False, None
            at = await conn.fetchval(
                """INSERT INTO ticket_scans (booking_id, admitted_by, remote)
                   VALUES ($1, $2, $3) ON CONFLICT (booking_id) DO NOTHING
                   RETURNING admitted_at""", booking_id, actor, remote)
            if at is not None:
                await _audit(conn, actor, "ticket.admitted", booking_id, remote, {})
                return True, at
            earlier: datetime = await conn.fetchval(
                "SELECT admitted_at FROM ticket_scans WHERE booking_id = $1", booking_id)
            await _audit(conn, actor, "ticket.refused", booking_id, remote,
                         {"result": "already_admitted"})
            return False, earlier

    async def for_user(self, user_id: int) -> list[Booking]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT reference FROM bookings WHERE user_id = $1 ORDER BY created_at DESC",
                user_id)
            return [self._opened(await _load(conn, "b.reference = $1", r["reference"]))
                    for r in rows]

    async def expire(self, reference: str, *, actor: str, reason: str) -> Booking | None:
        """pending -> expired, seats freed; None when it was not pending any more."""
        async with self._pool.acquire() as conn, conn.transaction():
            booking_id = await conn.fetchval(
                "SELECT id FROM bookings WHERE reference = $1 AND status = 'pending' FOR UPDATE",
                reference)
            if booking_id is None:
                return None
            await _set_status(conn, booking_id, "expired", active=False)
            await conn.execute(
                """UPDATE payments SET status = 'failed', updated_at = now()
                   WHERE booking_id = $1 AND status = 'created'""", booking_id)
            await _audit(conn, actor, "booking.expired", booking_id, None, {"reason": reason})
            return self._opened(await _load(conn, "b.id = $1", booking_id))

    async def due_pending(self, limit: int = 100) -> list[str]:
        """References of pending bookings whose payment window has passed."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT reference FROM bookings
                   WHERE status = 'pending' AND hold_deadline < now()
                   ORDER BY hold_deadline LIMIT $1""", limit)
        return [r["reference"] for r in rows]

    async def cancel(self, reference: str, *, user_id: int, refund: int,
                     remote: str | None, note: dict[str, Any] | None = None) -> Booking:
        """booked -> cancelled with the refund recorded; the caller checked the
        rules. LookupError when it is not booked, or its ticket was admitted.
        The audit row says who (``user_id``: the buyer or an admin), the
        booking before and after, and ``note`` (an admin's reasons)."""
        async with self._pool.acquire() as conn, conn.transaction():
            booking_id = await conn.fetchval(
                """SELECT id FROM bookings b WHERE reference = $1 AND status = 'booked'
                     AND NOT EXISTS (SELECT 1 FROM ticket_scans t WHERE t.booking_id = b.id)
                   FOR UPDATE""", reference)
            if booking_id is None:
                raise LookupError(reference)
            before = await _load(conn, "b.id = $1", booking_id)
            await _set_status(conn, booking_id, "cancelled", active=False)
            await conn.execute(
                """UPDATE payments SET refunded_amount = refunded_amount + $2,
                          status = CASE WHEN refunded_amount + $2 >= amount THEN 'refunded'
                                        ELSE 'partially_refunded' END,
                          updated_at = now()
                   WHERE booking_id = $1 AND $2 > 0""", booking_id, refund)
            after = await _load(conn, "b.id = $1", booking_id)
            await _audit(conn, f"user:{user_id}", "booking.cancelled", booking_id, remote,
                         {"refund": refund, "before": as_json(before),
                          "after": as_json(after), **(note or {})})
            return self._opened(after)

    async def search(self, *, reference: str | None = None, user_id: int | None = None,
                     email: str | None = None, showtime: int | None = None,
                     limit: int = 100) -> list[Booking]:
        """Bookings matching every criterion given, newest first (support's lookup)."""
        async with self._pool.acquire() as conn:
            ids = await conn.fetch(
                """SELECT b.id FROM bookings b JOIN users u ON u.id = b.user_id
                   WHERE ($1::text IS NULL OR b.reference = $1)
                     AND ($2::bigint IS NULL OR b.user_id = $2)
                     AND ($3::bytea IS NULL OR u.email_hash = $3)
                     AND ($4::bigint IS NULL OR b.showtime_id = $4)
                   ORDER BY b.created_at DESC, b.id DESC LIMIT $5""",
                reference, user_id,
                None if email is None else self._keys.cipher.email_hash(email),
                showtime, limit)
            return [self._opened(await _load(conn, "b.id = $1", r["id"])) for r in ids]

    async def needing_attention(self, limit: int = 100) -> list[Booking]:
        """Bookings flagged for support (a late payment refunded or re-acquired)."""
        async with self._pool.acquire() as conn:
            ids = await conn.fetch(
                """SELECT id FROM bookings WHERE attention IS NOT NULL
                   ORDER BY updated_at DESC, id DESC LIMIT $1""", limit)
            return [self._opened(await _load(conn, "b.id = $1", r["id"])) for r in ids]

    async def record_refused(self, provider: str, event: PaymentEvent, outcome: str,
                             remote: str | None) -> None:
        """Audit an event refused after verification (wrong amount, unknown order)."""
        await self.audit(f"provider:{provider}", "payment.refused", remote,
                         {"event": event.event_id, "order": event.order_id,
                          "type": event.type, "amount": event.amount,
                          "currency": event.currency, "reason": outcome})

    async def audit(self, actor: str, action: str, remote: str | None,
                    detail: dict[str, Any]) -> None:
        async with self._pool.acquire() as conn:
            await _audit(conn, actor, action, None, remote, detail)

    async def apply_event(self, provider: str, event: PaymentEvent, *,
                          remote: str | None = None) -> EventOutcome | None:
        """Record the event once and move the booking on; None for an unknown order.

        An order's outcome (captured, failed, expired) is one fact however
        many times and by whichever channel it comes (signed return, webhook,
        a resend): the first records it and acts, every later one is a
        ``duplicate`` that changes nothing. Other events (refunds, a capture
        of the wrong amount) are deduplicated by the provider's event id.
        A capture that does not book (the booking is cancelled, or its late
        payment was refunded) is written to the audit log.
        """
        actor = _Actor(f"provider:{provider}", remote)
        async with self._pool.acquire() as conn, conn.transaction():
            booking_id = await conn.fetchval(
                """SELECT b.id FROM payments p JOIN bookings b ON b.id = p.booking_id
                   WHERE p.provider = $1 AND p.provider_order_id = $2 FOR UPDATE OF b""",
                provider, event.order_id)
            if booking_id is None:
                return None
            booking = await _load(conn, "b.id = $1", booking_id)
            mismatch = event.type == "captured" and (event.amount, event.currency) != (
                booking.total.amount, booking.total.currency)
            fact = event.type if event.type in _OUTCOMES and not mismatch else None
            fresh = await conn.fetchval(
                """INSERT INTO payment_events (provider, event_id, event_type, order_id,
                                               raw_body, outcome, fact)
                   VALUES ($1, $2, $3, $4, $5, 'received', $6)
                   ON CONFLICT DO NOTHING RETURNING id""",
                provider, event.event_id, event.type, event.order_id, event.raw, fact)
            if fresh is None:
                outcome = EventOutcome("duplicate", booking)
            elif mismatch:
                # Recorded (so a retry is a duplicate) but never acted on.
                outcome = EventOutcome("mismatch", booking)
            else:
                outcome = await _transition(conn, booking_id, booking, event, actor)
                await conn.execute("UPDATE payment_events SET outcome = $2 WHERE id = $1",
                                   fresh, outcome.result)
            after = outcome.booking
            if event.type == "captured" and not mismatch and after.status != "booked":
                await _audit(conn, actor.name, "payment.capture_not_booked", booking_id,
                             actor.remote, {"event": event.event_id, "result": outcome.result,
                                            "status": after.status,
                                            "payment": after.payment and after.payment.status})
            return EventOutcome(outcome.result, self._opened(outcome.booking))

    async def active_sales(self) -> dict[int, list[ActiveSale]]:
        """showtime -> its pending and booked bookings (every showtime, with
        or without any): what Redis must mirror."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT b.showtime_id, b.reference, b.status, b.user_id, b.hold_deadline,
                          array_agg(s.seat_id ORDER BY s.seat_id) AS seats
                   FROM bookings b JOIN booking_seats s ON s.booking_id = b.id
                   WHERE b.status IN ('pending', 'booked') AND s.active
                   GROUP BY b.id ORDER BY b.id""")
            showtimes = await conn.fetch("SELECT id FROM showtimes ORDER BY id")
        result: dict[int, list[ActiveSale]] = {r["id"]: [] for r in showtimes}
        for r in rows:
            result.setdefault(r["showtime_id"], []).append(ActiveSale(
                r["reference"], r["status"], str(r["user_id"]), r["hold_deadline"],
                list(r["seats"])))
        return result

    async def blocked_seats(self) -> dict[int, list[str]]:
        """Every showtime's seats blocked off online sale (house seats, press,
        broken: seatserver/house), which Redis mirrors like the bookings."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT showtime_id, array_agg(seat_id ORDER BY seat_id) AS seats "
                "FROM seat_blocks GROUP BY showtime_id ORDER BY showtime_id")
        return {r["showtime_id"]: list(r["seats"]) for r in rows}

    async def booked_now(self, showtime: int, seats: Sequence[str]) -> dict[str, str]:
        """seat -> reference of the booked booking that has it, of ``seats``."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT s.seat_id, b.reference FROM booking_seats s
                   JOIN bookings b ON b.id = s.booking_id
                   WHERE s.showtime_id = $1 AND s.active AND b.status = 'booked'
                     AND s.seat_id = any($2::text[])""", showtime, list(seats))
        return {r["seat_id"]: r["reference"] for r in rows}

    async def statuses(self, references: Sequence[str]) -> dict[str, str]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT reference, status FROM bookings WHERE reference = any($1::text[])",
                list(references))
        return {r["reference"]: r["status"] for r in rows}


@dataclass(frozen=True, slots=True)
class _Actor:
    """Who moves a booking, and from where (for the audit log)."""

    name: str
    remote: str | None


# The outcomes of an order: one fact each (payment_events.fact).
_OUTCOMES = ("captured", "failed", "expired")
# Payment states in which the order's capture is already accounted for.
_CAPTURE_KNOWN = ("captured", "refunded", "partially_refunded")


async def _transition(conn: asyncpg.Connection, booking_id: int, booking: Booking,
                      event: PaymentEvent, actor: _Actor) -> EventOutcome:
    """The payment state machine (docs/bookings.md, "Payment state machine")."""
    detail = {"event": event.event_id, "type": event.type}
    if event.type == "captured":
        assert booking.payment is not None
        if booking.payment.status in _CAPTURE_KNOWN:
            # This order's capture is recorded already (it came by the other
            # channel before facts were kept): the same money, nothing to do.
            return EventOutcome("ignored", booking)
        await conn.execute(
            """UPDATE payments SET status = 'captured', provider_payment_id = $2,
                      updated_at = now()
               WHERE booking_id = $1 AND status IN ('created', 'authorized', 'failed')""",
            booking_id, event.payment_id)
        if booking.status == "pending":
            await _set_status(conn, booking_id, "booked", active=True)
            await _confirmed(conn, booking_id, actor, "booking.booked", detail)
            return EventOutcome("booked", await _load(conn, "b.id = $1", booking_id))
        if booking.status == "expired":
            return await _late_capture(conn, booking_id, booking, actor, detail)
        # Money for a booking no longer for sale (cancelled): never booked,
        # given back in full and shown to support.
        return await _refund_capture(conn, booking_id, booking, actor, detail,
                                     attention="capture_after_cancel")
    if event.type in ("failed", "expired"):
        if booking.status != "pending":
            return EventOutcome("ignored", booking)  # a capture (or cancel) came first
        await _set_status(conn, booking_id, "expired", active=False)
        await conn.execute(
            """UPDATE payments SET status = 'failed', updated_at = now()
               WHERE booking_id = $1 AND status IN ('created', 'authorized')""", booking_id)
        await _audit(conn, actor.name, "booking.expired", booking_id, actor.remote,
                     {**detail, "reason": f"payment {event.type}"})
        return EventOutcome("expired", await _load(conn, "b.id = $1", booking_id))
    return EventOutcome("recorded", booking)  # refunds: we asked for them ourselves


async def _late_capture(conn: asyncpg.Connection, booking_id: int, booking: Booking,
                        actor: _Actor, detail: dict[str, Any]) -> EventOutcome:
    """Money arrived for an expired booking: take the seats back if nobody else
    has them (the unique index decides), else refund in full."""
    try:
        async with conn.transaction():
            await conn.execute("UPDATE booking_seats SET active = true WHERE booking_id = $1",
                               booking_id)
    except asyncpg.UniqueViolationError:
        return await _refund_capture(conn, booking_id, booking, actor, detail,
                                     attention="late_payment_refunded")
    await conn.execute(
        """UPDATE bookings SET status = 'booked', attention = 'late_payment_reacquired',
                  updated_at = now() WHERE id = $1""", booking_id)
    await _confirmed(conn, booking_id, actor, "booking.late_reacquired", detail)
    return EventOutcome("reacquired", await _load(conn, "b.id = $1", booking_id))


async def _refund_capture(conn: asyncpg.Connection, booking_id: int, booking: Booking,
                          actor: _Actor, detail: dict[str, Any], *,
                          attention: str) -> EventOutcome:
    """A capture that cannot book: recorded as refunded in full and flagged;
    the caller asks the provider for the refund (``refund``)."""
    await conn.execute(
        """UPDATE payments SET status = 'refunded', refunded_amount = amount,
                  updated_at = now() WHERE booking_id = $1""", booking_id)
    await conn.execute(
        "UPDATE bookings SET attention = $2, updated_at = now() WHERE id = $1",
        booking_id, attention)
    await _audit(conn, actor.name, "payment.late_refunded", booking_id, actor.remote,
                 {**detail, "refund": booking.total.amount, "status": booking.status})
    return EventOutcome("refund", await _load(conn, "b.id = $1", booking_id))


async def _confirmed(conn: asyncpg.Connection, booking_id: int, actor: _Actor,
                     action: str, detail: dict[str, Any]) -> None:
    await _audit(conn, actor.name, action, booking_id, actor.remote, detail)
    reference = await conn.fetchval("SELECT reference FROM bookings WHERE id = $1", booking_id)
    await conn.execute("INSERT INTO outbox (kind, payload) VALUES ('booking_confirmed', $1)",
                       json.dumps({"reference": reference}))


async def _supersede(conn: asyncpg.Connection, user_id: int, showtime: int,
                     seats: Sequence[str], successor: str, remote: str | None) -> None:
    rows = await conn.fetch(
        """SELECT id FROM bookings
           WHERE user_id = $1 AND showtime_id = $2 AND status = 'pending'
             AND id IN (SELECT booking_id FROM booking_seats
                        WHERE showtime_id = $2 AND active AND seat_id = any($3::text[]))
           ORDER BY id FOR UPDATE""", user_id, showtime, list(seats))
    for row in rows:
        await _set_status(conn, row["id"], "expired", active=False)
        await conn.execute(
            """UPDATE payments SET status = 'failed', updated_at = now()
               WHERE booking_id = $1 AND status IN ('created', 'authorized')""", row["id"])
        await _audit(conn, f"user:{user_id}", "booking.expired", row["id"], remote,
                     {"reason": "superseded", "by": successor})


async def _set_status(conn: asyncpg.Connection, booking_id: int, status: str, *,
                      active: bool) -> None:
    await conn.execute("UPDATE bookings SET status = $2, updated_at = now() WHERE id = $1",
                       booking_id, status)
    await conn.execute("UPDATE booking_seats SET active = $2 WHERE booking_id = $1",
                       booking_id, active)


async def _audit(conn: asyncpg.Connection, actor: str, action: str, booking_id: int | None,
                 remote: str | None, detail: dict[str, Any]) -> None:
    await insert_audit(conn, actor=actor, action=action, remote=remote, detail=detail,
                       booking_id=booking_id)


async def _maybe(conn: asyncpg.Connection, where: str, *args: Any) -> Booking | None:
    row = await conn.fetchrow(f"{_BOOKING} WHERE {where}", *args)
    if row is None:
        return None
    seats = in_seat_order(await conn.fetch(
        "SELECT seat_id, seat_type, amount FROM booking_seats WHERE booking_id = $1",
        row["id"]), lambda s: str(s["seat_id"]))
    currency: str = row["currency"]
    payment = None
    if row["provider"] is not None:
        payment = PaymentView(row["provider"], row["provider_order_id"], row["payment_status"],
                              Price(row["refunded_amount"], currency))
    return Booking(
        reference=row["reference"], showtime=row["showtime_id"], status=row["status"],
        total=Price(row["amount"], currency),
        seats=[BookedSeat(s["seat_id"], s["seat_type"], Price(s["amount"], currency))
               for s in seats],
        payment=payment, hold_deadline=row["hold_deadline"], attention=row["attention"],
        created_at=row["created_at"], email=row["contact_email"],
        phone=row["contact_phone"], user_id=row["user_id"],
    )


async def _load(conn: asyncpg.Connection, where: str, *args: Any) -> Booking:
    booking = await _maybe(conn, where, *args)
    assert booking is not None, args
    return booking
