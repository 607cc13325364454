"""The sales reports stay fast on a large history: on a synthetic year of
bookings, their plans find bookings through the indexes of migrations/0013
(no sequential scan of bookings, booking_seats, payments or audit_log) and
each answers within a bound.

The data set is made in SQL with generate_series (a few seconds): 20 screens
of 100 seats, four showtimes a screen a day for half a year (14,560
showtimes), ``BOOKINGS`` bookings of two seats each spread over them, a
payment for every one, a refund for one in ten and an audit row each.
``SEATSERVER_SALES_BOOKINGS=1000000`` runs it at a million bookings (a few
minutes to load): the plans are the same.

The bound asserted, ``BOUND_MS`` per query, is about ten times what was
measured on the 2-core development machine (see docs/admin.md, "Sales"),
room for a machine busy with other tests.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import orjson
import pytest

from seatserver.db import migrate
from seatserver.sales.store import (
    BOOKING_ROWS,
    DAILY_SALES,
    SEAT_AUDIT,
    SEAT_BOOKINGS,
    SHOWTIME_SALES,
    window,
)
from tests.services import drop_database, make_database, run_sync

BOOKINGS = int(os.environ.get("SEATSERVER_SALES_BOOKINGS", "60000"))
BOUND_MS = 500
FIRST_DAY = dt.date(2030, 1, 1)
WATCHED = {"bookings", "booking_seats", "payments", "audit_log"}

SYNTHETIC = """
INSERT INTO movies (slug, title, runtime_min)
    SELECT 'film-' || g, 'Film ' || g, 100 FROM generate_series(1, 40) g;
INSERT INTO theaters (slug, name, city, time_zone)
    VALUES ('big', 'Big', 'Berlin', 'Europe/Berlin');
INSERT INTO screens (theater_id, name)
    SELECT (SELECT id FROM theaters), 'Screen ' || g FROM generate_series(1, 20) g;
INSERT INTO seats (screen_id, seat_id, "row", number, seat_type, x, y)
    SELECT sc.id, chr(64 + r) || n, chr(64 + r), n,
           CASE WHEN r <= 3 THEN 'silver' WHEN r <= 8 THEN 'gold' ELSE 'vip' END, n, r
    FROM screens sc, generate_series(1, 10) r, generate_series(1, 10) n;
INSERT INTO users (kind) SELECT 'guest' FROM generate_series(1, 2000);
-- Foreign keys and the showtimes' trigger hold by construction here (ends_at
-- and occupied are written as the trigger would): their per-row work would
-- take most of the load's time, and a replica does not run them.
SET session_replication_role = replica;
INSERT INTO showtimes (movie_id, screen_id, starts_at, currency, cleaning_min, ends_at,
                       occupied)
    SELECT (SELECT min(id) FROM movies) + (d * 7 + sc.id + k) % 40, sc.id, at, 'EUR', 0,
           at + interval '100 minutes', tstzrange(at, at + interval '100 minutes', '[)')
    FROM generate_series(0, 181) d, screens sc, generate_series(0, 3) k,
         LATERAL (SELECT (DATE '2030-01-01' + d)::timestamp AT TIME ZONE 'Europe/Berlin'
                         + make_interval(hours => 12 + 3 * k) AS at) t;
INSERT INTO bookings (reference, user_id, showtime_id, status, amount, currency,
                      hold_deadline, created_at)
    SELECT upper(lpad(to_hex(g), 10, '0')), (SELECT min(id) FROM users) + g % 2000,
           st.first + (g * 7919) % st.n,
           CASE WHEN g % 10 = 0 THEN 'cancelled' WHEN g % 17 = 0 THEN 'expired'
                ELSE 'booked' END,
           2400, 'EUR', now(), now()
    FROM (SELECT min(id) AS first, count(*) AS n FROM showtimes) st,
         generate_series(1, {bookings}) g;
INSERT INTO booking_seats (booking_id, showtime_id, seat_id, seat_type, amount, active)
    SELECT b.id, b.showtime_id, chr(65 + s.i % 10) || (1 + (b.id / 10 + s.i) % 10), 'gold',
           1200, false
    FROM bookings b, (VALUES (0), (1)) s (i);
INSERT INTO payments (booking_id, provider, provider_order_id, amount, currency, status,
                      refunded_amount)
    SELECT id, 'simulated', 'o' || id, amount, currency, 'captured',
           CASE WHEN status = 'cancelled' THEN amount ELSE 0 END
    FROM bookings;
INSERT INTO audit_log (actor, action, booking_id)
    SELECT 'system', 'booking.created', id FROM bookings;
RESET session_replication_role;
"""


@pytest.fixture(scope="module")
def loaded_url(services: Any) -> Iterator[str]:
    name, dsn = make_database(services.database_url, prefix="seatserver_sales")

    async def load() -> None:
        await migrate(dsn)
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(SYNTHETIC.format(bookings=BOOKINGS))
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()

    try:
        run_sync(load())
        yield dsn
    finally:
        drop_database(services.database_url, name)


@pytest.fixture
async def conn(loaded_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(loaded_url)
    try:
        yield connection
    finally:
        await connection.close()


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


async def explain(conn: asyncpg.Connection, sql: str, *args: Any) -> tuple[list[str], float]:
    """The scans of the watched tables, and the execution time in ms."""
    raw = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)
    top = orjson.loads(raw)[0]
    scans = [f"{n['Node Type']} on {n['Relation Name']}" for n in nodes(top["Plan"])
             if n.get("Relation Name") in WATCHED]
    return scans, float(top["Execution Time"])


def _range(days: int) -> tuple[Any, ...]:
    start = FIRST_DAY + dt.timedelta(days=100)
    return window(start, start + dt.timedelta(days=days - 1))


@pytest.mark.parametrize(("name", "sql", "days"), [
    ("showtimes of a week", SHOWTIME_SALES, 7), ("daily of a month", DAILY_SALES, 31),
    ("bookings export of a week", BOOKING_ROWS, 7)])
async def test_a_report_reads_bookings_by_index_within_the_bound(
        conn: asyncpg.Connection, name: str, sql: str, days: int) -> None:
    args: tuple[Any, ...] = (*_range(days), None)
    if sql is SHOWTIME_SALES:
        args = (*args, 1000)
    scans, took_ms = await explain(conn, sql, *args)
    assert scans, name  # the watched tables are read...
    assert not [s for s in scans if s.startswith("Seq Scan")], (name, scans)  # ...by index
    assert took_ms < BOUND_MS, (name, took_ms)
    assert await conn.fetch(sql, *args), name  # and it found sales


async def test_a_seats_history_reads_its_bookings_by_index(conn: asyncpg.Connection) -> None:
    showtime = await conn.fetchval(
        "SELECT showtime_id FROM booking_seats GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
    seat = await conn.fetchval(
        "SELECT seat_id FROM booking_seats WHERE showtime_id = $1 LIMIT 1", showtime)
    scans, took_ms = await explain(conn, SEAT_BOOKINGS, showtime, seat)
    assert scans and not [s for s in scans if s.startswith("Seq Scan")], scans
    ids = [r["id"] for r in await conn.fetch(SEAT_BOOKINGS, showtime, seat)]
    audit_scans, audit_ms = await explain(conn, SEAT_AUDIT, ids)
    assert not [s for s in audit_scans if s.startswith("Seq Scan")], audit_scans
    assert took_ms + audit_ms < BOUND_MS
