"""``seatserver reconcile`` puts PostgreSQL's booked and pending seats back into a
flushed Redis, and drops what Redis wrongly believes sold."""

from __future__ import annotations

import asyncpg
import redis

from seatserver import redis_keys
from tests.test_cli import seatserver


async def _booking(conn: asyncpg.Connection, reference: str, showtime: int, status: str,
                   seats: list[str], deadline: str) -> int:
    user: int = await conn.fetchval("INSERT INTO users DEFAULT VALUES RETURNING id")
    booking = await conn.fetchval(
        f"""INSERT INTO bookings (reference, user_id, showtime_id, status, amount,
                                 currency, hold_deadline)
           VALUES ($1, $2, $3, $4, 100, 'EUR', now() + interval '{deadline}')
           RETURNING id""", reference, user, showtime, status)
    await conn.executemany(
        """INSERT INTO booking_seats (booking_id, showtime_id, seat_id, seat_type, amount)
           VALUES ($1, $2, $3, 'silver', 100)""", [(booking, showtime, s) for s in seats])
    return user


async def test_reconcile_restores_booked_and_pending_seats_and_drops_unsold_ones(
        db_pool: asyncpg.Pool, database_url: str, redis_url: str, showtime: int) -> None:
    async with db_pool.acquire() as conn:
        await _booking(conn, "RECONCILE1", showtime, "booked", ["A1"], "0 s")
        buyer = await _booking(conn, "RECONCILE2", showtime, "pending", ["A2", "A3"],
                               "5 minutes")
        await _booking(conn, "RECONCILE3", showtime, "expired", ["A4"], "5 minutes")
    with redis.Redis.from_url(redis_url) as r:
        r.sadd(redis_keys.booked(showtime), "Z9")  # Redis believes in a sale that never was

        result = seatserver("reconcile", REDIS_URL=redis_url, DATABASE_URL=database_url)

        assert result.returncode == 0, result.stderr
        assert result.stdout == ("reconciled: 1 booked seats restored, 2 seats of pending "
                                 "bookings held again, 1 seats freed\n")
        assert r.smembers(redis_keys.booked(showtime)) == {b"A1"}
        assert r.hgetall(redis_keys.booking_refs(showtime)) == {b"A1": b"RECONCILE1"}
        # The pending booking's seats are its buyer's again, until its deadline.
        for seat in ("A2", "A3"):
            assert r.hget(redis_keys.held(showtime), seat) == str(buyer).encode()
        mine = r.hget(redis_keys.mine(showtime), str(buyer)) or b""
        assert set(mine.split(b",")) == {b"A2", b"A3"}
        deadline = float(r.zscore(redis_keys.expiries(showtime), "A2") or 0)
        async with db_pool.acquire() as conn:
            want = await conn.fetchval("SELECT hold_deadline FROM bookings "
                                       "WHERE reference = 'RECONCILE2'")
        assert deadline == round(want.timestamp() * 1000)
        assert r.hget(redis_keys.held(showtime), "A4") is None  # expired: stays free
        kinds = [f[b"k"] for _, f in r.xrange(redis_keys.events(showtime))]
        assert kinds == [b"cancel", b"book", b"hold"]

        again = seatserver("reconcile", REDIS_URL=redis_url, DATABASE_URL=database_url)
        assert again.stdout == ("reconciled: 0 booked seats restored, 0 seats of pending "
                                "bookings held again, 0 seats freed\n")
        assert len(r.xrange(redis_keys.events(showtime))) == 3  # nothing appended
