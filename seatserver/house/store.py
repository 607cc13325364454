"""HouseStore: blocked seats and counter sales in PostgreSQL, the record.

Each change is one transaction that also writes its audit row. The Redis
step that must agree with it (the block script refusing a seat held online)
runs inside the transaction, as ``then``: a refusal there rolls the rows
back, so PostgreSQL never records a block Redis refused.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from seatserver.audit import Actor, AuditEntry, write_audit
from seatserver.bookings.store import SeatLine, new_reference
from seatserver.errors import SeatsUnavailable
from seatserver.personal.cipher import BOOKINGS_EMAIL
from seatserver.personal.keys import PersonalKeys

REASONS = ("house", "press", "broken", "other")
METHODS = ("cash", "card_present")
# The provider name of payments taken at the counter (payments.provider).
COUNTER = "counter"


@dataclass(frozen=True, slots=True)
class Block:
    seat: str
    reason: str
    note: str | None
    blocked_by: int | None
    blocked_at: datetime


@dataclass(frozen=True, slots=True)
class CounterSale:
    """A booking sold at the counter: booked and paid at once."""

    reference: str
    showtime: int
    seats: list[str]
    amount: int
    currency: str
    method: str
    taken_by: int
    blocked_sold: list[str]  # the seats of it that were blocked until now


def _block(row: asyncpg.Record) -> Block:
    return Block(row["seat_id"], row["reason"], row["note"], row["blocked_by"],
                 row["blocked_at"])


class HouseStore:
    def __init__(self, pool: asyncpg.Pool, keys: PersonalKeys) -> None:
        self._pool = pool
        self._keys = keys  # a counter buyer's e-mail is sealed like an online one's

    async def blocks(self, showtime: int) -> list[Block]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT seat_id, reason, note, blocked_by, blocked_at FROM seat_blocks
                   WHERE showtime_id = $1 ORDER BY seat_id""", showtime)
        return [_block(r) for r in rows]

    async def block(self, showtime: int, seats: Sequence[str], *, reason: str,
                    note: str | None, actor: Actor, actor_id: int,
                    then: Callable[[], Awaitable[object]]) -> list[Block]:
        """Block ``seats`` (or change the reason of those blocked already).

        A seat with a live booking (paid, or being paid for) refuses the
        whole request with ``seats_unavailable`` naming it; ``then`` (the
        Redis step) refuses seats held online the same way.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            # One block or sale of a showtime at a time: the check below and the
            # insert see the same bookings.
            await conn.execute("SELECT pg_advisory_xact_lock(18, $1::int)", showtime % 2**31)
            sold = await conn.fetch(
                """SELECT seat_id FROM booking_seats
                   WHERE showtime_id = $1 AND active AND seat_id = any($2::text[])
                   ORDER BY seat_id""", showtime, list(seats))
            if sold:
                named = [r["seat_id"] for r in sold]
                raise SeatsUnavailable("sold or being paid for, so they cannot be blocked: "
                                       f"{', '.join(named)}", named)
            before = await conn.fetch(
                """SELECT seat_id, reason, note FROM seat_blocks
                   WHERE showtime_id = $1 AND seat_id = any($2::text[])""",
                showtime, list(seats))
            rows = await conn.fetch(
                """INSERT INTO seat_blocks (showtime_id, seat_id, reason, note, blocked_by)
                   SELECT $1, s, $3, $4, $5 FROM unnest($2::text[]) AS s
                   ON CONFLICT (showtime_id, seat_id) DO UPDATE
                     SET reason = excluded.reason, note = excluded.note
                   RETURNING seat_id, reason, note, blocked_by, blocked_at""",
                showtime, list(seats), reason, note, actor_id)
            await write_audit(conn, AuditEntry(
                actor, "seats.blocked",
                before=[dict(r) for r in before] or None,
                after={"showtime_id": showtime, "seats": sorted(seats), "reason": reason,
                       "note": note}))
            await then()
        return sorted((_block(r) for r in rows), key=lambda b: b.seat)

    async def unblock(self, showtime: int, seats: Sequence[str], *, actor: Actor,
                      then: Callable[[], Awaitable[object]]) -> list[str]:
        """Put blocked seats back on online sale; returns those that were blocked
        (a seat not blocked is no error: unblocking twice changes nothing)."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(18, $1::int)", showtime % 2**31)
            rows = await conn.fetch(
                """DELETE FROM seat_blocks WHERE showtime_id = $1 AND seat_id = any($2::text[])
                   RETURNING seat_id, reason, note""", showtime, list(seats))
            if rows:
                await write_audit(conn, AuditEntry(
                    actor, "seats.unblocked",
                    before=[dict(r) for r in rows],
                    after={"showtime_id": showtime,
                           "seats": sorted(r["seat_id"] for r in rows)}))
            await then()
        return sorted(r["seat_id"] for r in rows)

    async def sell(self, *, showtime: int, currency: str, lines: Sequence[SeatLine],
                   blocked: Sequence[str], method: str, staff_id: int, email: str | None,
                   actor: Actor) -> CounterSale:
        """A counter sale: the booking, booked and paid, in one transaction.

        ``blocked`` are the seats the caller found blocked: their blocks end
        here, and if any was unblocked meanwhile (it may be held online now)
        the sale is refused. The partial unique index refuses seats another
        live booking has, as for online checkout.
        """
        reference = new_reference()
        total = sum(line.amount for line in lines)
        seats = [ln.seat_id for ln in lines]
        async with self._pool.acquire() as conn:
            try:
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock(18, $1::int)",
                                       showtime % 2**31)
                    ended = await conn.fetch(
                        """DELETE FROM seat_blocks
                           WHERE showtime_id = $1 AND seat_id = any($2::text[])
                           RETURNING seat_id""", showtime, seats)
                    if sorted(r["seat_id"] for r in ended) != sorted(blocked):
                        changed = sorted(set(blocked) ^ {r["seat_id"] for r in ended})
                        raise SeatsUnavailable("blocked or unblocked meanwhile: "
                                               f"{', '.join(changed)}; look again", changed)
                    # Written pending, then booked below once its seats and
                    # payment are in: the change of status an online payment
                    # makes, so the same trigger tells webhooks it was paid
                    # (and whether it sold the show out), migrations/0015.
                    booking_id: int = await conn.fetchval(
                        """INSERT INTO bookings (reference, user_id, showtime_id, amount,
                                                 currency, hold_deadline, status,
                                                 contact_email_sealed)
                           VALUES ($1, $2, $3, $4, $5, now(), 'pending', $6) RETURNING id""",
                        reference, staff_id, showtime, total, currency,
                        self._keys.cipher.seal_optional(email, BOOKINGS_EMAIL, reference))
                    await conn.executemany(
                        """INSERT INTO booking_seats (booking_id, showtime_id, seat_id,
                                                      seat_type, amount, active)
                           VALUES ($1, $2, $3, $4, $5, true)""",
                        [(booking_id, showtime, ln.seat_id, ln.seat_type, ln.amount)
                         for ln in lines])
                    await conn.execute(
                        """INSERT INTO payments (booking_id, provider, provider_order_id,
                                                 amount, currency, status, method, taken_by)
                           VALUES ($1, $2, $3, $4, $5, 'captured', $6, $7)""",
                        booking_id, COUNTER, reference, total, currency, method, staff_id)
                    await conn.execute("UPDATE bookings SET status = 'booked' WHERE id = $1",
                                       booking_id)
                    await write_audit(conn, AuditEntry(
                        actor, "booking.counter_sold", booking_id=booking_id,
                        after={"showtime_id": showtime, "seats": seats, "amount": total,
                               "currency": currency, "method": method,
                               "blocked_sold": sorted(blocked)}))
                    if email is not None:
                        await conn.execute(
                            "INSERT INTO outbox (kind, payload) VALUES ('booking_confirmed', $1)",
                            json.dumps({"reference": reference}))
            except asyncpg.UniqueViolationError:
                taken = await conn.fetch(
                    """SELECT seat_id FROM booking_seats
                       WHERE showtime_id = $1 AND active AND seat_id = any($2::text[])""",
                    showtime, seats)
                named = sorted(r["seat_id"] for r in taken)
                raise SeatsUnavailable(f"already sold: {', '.join(named)}", named) from None
        return CounterSale(reference, showtime, seats, total, currency, method, staff_id,
                           sorted(blocked))
