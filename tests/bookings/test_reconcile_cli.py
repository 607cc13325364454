"""``seatserver reconcile`` puts PostgreSQL's booked seats back into a flushed Redis."""

from __future__ import annotations

import asyncpg
import redis

from seatserver import redis_keys
from tests.test_cli import seatserver


async def test_reconcile_restores_booked_seats_and_drops_unsold_ones(
        db_pool: asyncpg.Pool, database_url: str, redis_url: str, showtime: int) -> None:
    async with db_pool.acquire() as conn:
        user = await conn.fetchval("INSERT INTO users DEFAULT VALUES RETURNING id")
        booking = await conn.fetchval(
            """INSERT INTO bookings (reference, user_id, showtime_id, status, amount,
                                     currency, hold_deadline)
               VALUES ('RECONCILE1', $1, $2, 'booked', 100, 'EUR', now()) RETURNING id""",
            user, showtime)
        await conn.execute(
            """INSERT INTO booking_seats (booking_id, showtime_id, seat_id, seat_type, amount)
               VALUES ($1, $2, 'A1', 'silver', 100)""", booking, showtime)
    with redis.Redis.from_url(redis_url) as r:
        r.sadd(redis_keys.booked(showtime), "Z9")  # Redis believes in a sale that never was

        result = seatserver("reconcile", REDIS_URL=redis_url, DATABASE_URL=database_url)

        assert result.returncode == 0, result.stderr
        assert "2 booked seats changed" in result.stdout
        assert r.smembers(redis_keys.booked(showtime)) == {b"A1"}
        kinds = [f[b"k"] for _, f in r.xrange(redis_keys.events(showtime))]
        assert kinds == [b"cancel", b"book"]
