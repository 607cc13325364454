"""The audit's checks of the stores: PostgreSQL (the record) against Redis.

Scoped to the run's showtimes. A booking can be between two steps when the
audit looks (PostgreSQL decided, Redis not told yet), so a check that finds a
difference looks again a few times before it reports it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg

from seatserver import redis_keys
from seatserver.loadgen.ledger import CheckoutRecord
from seatserver.loadgen.ownership import MAX_DETAILS, Findings
from seatserver.redis_client import RedisClient

LOOKS = 5
BETWEEN_LOOKS_S = 0.5

# A showtime's booked seats and their booking references, read together.
BOOKED = "return {redis.call('SMEMBERS', KEYS[1]), redis.call('HGETALL', KEYS[2])}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def settled(check: Callable[[], Awaitable[Findings]]) -> Findings:
    findings = await check()
    for _ in range(LOOKS - 1):
        if not findings.violations:
            break
        await asyncio.sleep(BETWEEN_LOOKS_S)
        findings = await check()
    return findings


async def booked_everywhere(pool: asyncpg.Pool, redis: RedisClient, showtimes: Sequence[int]
                            ) -> Findings:
    """Every seat PostgreSQL says is booked is booked in Redis, under the same
    booking reference, and Redis books nothing else."""
    findings = Findings()
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT b.showtime_id, bs.seat_id, b.reference
                 FROM bookings b JOIN booking_seats bs ON bs.booking_id = b.id
                WHERE b.status = 'booked' AND bs.active AND b.showtime_id = ANY($1)""",
            list(showtimes))
    in_pg: dict[int, dict[str, str]] = {s: {} for s in showtimes}
    for row in rows:
        in_pg[row["showtime_id"]][row["seat_id"]] = row["reference"]
    pg_total = redis_total = 0
    for showtime in showtimes:
        members, pairs = await redis.eval(
            BOOKED, 2, redis_keys.booked(showtime), redis_keys.booking_refs(showtime))
        in_redis = {_text(s) for s in members}
        ref_of = {_text(k): _text(v) for k, v in zip(pairs[::2], pairs[1::2], strict=True)}
        pg = in_pg[showtime]
        pg_total += len(pg)
        redis_total += len(in_redis)
        for seat in sorted(set(pg) - in_redis):
            findings.violate(f"showtime {showtime}: {seat} is booked in PostgreSQL "
                             f"({pg[seat]}) but not in Redis")
        for seat in sorted(in_redis - set(pg)):
            findings.violate(f"showtime {showtime}: {seat} is booked in Redis "
                             f"({ref_of.get(seat, 'no reference')}) but not in PostgreSQL")
        for seat in sorted(set(pg) & in_redis):
            if ref_of.get(seat) != pg[seat]:
                findings.violate(f"showtime {showtime}: {seat} is booked by {pg[seat]} in "
                                 f"PostgreSQL, by {ref_of.get(seat)} in Redis")
    findings.figures = {"booked_in_postgresql": pg_total, "booked_in_redis": redis_total,
                        "differences": findings.violations}
    return findings


async def one_active_sale(pool: asyncpg.Pool, showtimes: Sequence[int]) -> Findings:
    """No seat is in two active bookings, and a seat line is active exactly
    when its booking is pending or booked."""
    findings = Findings()
    async with pool.acquire() as conn:
        doubles = await conn.fetch(
            """SELECT showtime_id, seat_id, array_agg(booking_id ORDER BY booking_id) AS ids
                 FROM booking_seats WHERE active AND showtime_id = ANY($1)
                GROUP BY showtime_id, seat_id HAVING count(*) > 1 LIMIT $2""",
            list(showtimes), MAX_DETAILS)
        stale = await conn.fetch(
            """SELECT b.reference, b.status, bs.seat_id, bs.active
                 FROM booking_seats bs JOIN bookings b ON b.id = bs.booking_id
                WHERE b.showtime_id = ANY($1)
                  AND bs.active <> (b.status IN ('pending', 'booked')) LIMIT $2""",
            list(showtimes), MAX_DETAILS)
        active = await conn.fetchval(
            "SELECT count(*) FROM booking_seats WHERE active AND showtime_id = ANY($1)",
            list(showtimes))
    for row in doubles:
        findings.violate(f"showtime {row['showtime_id']}: {row['seat_id']} is in active "
                         f"bookings {list(row['ids'])}")
    for row in stale:
        findings.violate(f"{row['reference']} is {row['status']} but its seat "
                         f"{row['seat_id']} is {'active' if row['active'] else 'inactive'}")
    findings.figures = {"active_seat_lines": int(active), "violations": findings.violations}
    return findings


async def payments_booked(pool: asyncpg.Pool, showtimes: Sequence[int]) -> Findings:
    """Every captured payment belongs to a booked booking, and every booked
    booking has a captured payment."""
    findings = Findings()
    async with pool.acquire() as conn:
        captured = await conn.fetchval(
            """SELECT count(*) FROM payments p JOIN bookings b ON b.id = p.booking_id
                WHERE p.status = 'captured' AND b.showtime_id = ANY($1)""", list(showtimes))
        orphans = await conn.fetch(
            """SELECT b.reference, b.status FROM payments p JOIN bookings b ON b.id = p.booking_id
                WHERE p.status = 'captured' AND b.status <> 'booked'
                  AND b.showtime_id = ANY($1) LIMIT $2""", list(showtimes), MAX_DETAILS)
        unpaid = await conn.fetch(
            """SELECT b.reference FROM bookings b
                WHERE b.status = 'booked' AND b.showtime_id = ANY($1)
                  AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.booking_id = b.id
                                  AND p.status IN ('captured', 'partially_refunded'))
                LIMIT $2""", list(showtimes), MAX_DETAILS)
    for row in orphans:
        findings.violate(f"a captured payment of {row['reference']}, which is {row['status']}")
    for row in unpaid:
        findings.violate(f"{row['reference']} is booked with no captured payment")
    findings.figures = {"captured_payments": int(captured), "violations": findings.violations}
    return findings


async def buyers_told_truth(pool: asyncpg.Pool, checkouts: Sequence[CheckoutRecord]
                            ) -> Findings:
    """Each booking as its buyer last saw it (booked, expired after a decline)
    is what PostgreSQL records."""
    findings = Findings()
    seen = {c.reference: c for c in checkouts if c.reference and c.outcome in
            ("booked", "declined")}
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT reference, status FROM bookings "
                                "WHERE reference = ANY($1)", list(seen))
    recorded = {row["reference"]: row["status"] for row in rows}
    for reference, record in sorted(seen.items()):
        expected = "booked" if record.outcome == "booked" else "expired"
        actual = recorded.get(reference, "missing")
        if actual != expected:
            findings.violate(f"{record.client} saw {reference} {record.status} "
                             f"({record.outcome}); PostgreSQL has it {actual}")
    findings.figures = {"bookings_seen": len(seen), "violations": findings.violations}
    return findings
