"""Sales reports at a million bookings: how long the dashboard's queries take,
with the sales indexes (migrations/0017, read index-only), as they were before
0017 (0013's indexes, a showtime's seats fetched booking by booking), and
without any.

Fills a private database (bench/services.py: ``seatserver_bench_<pid>`` on the
machine's PostgreSQL, else an embedded one; dropped at the end) with
``SYNTHETIC``, made in SQL by generate_series, no row crossing the wire: 20
screens of 100 seats, four showtimes a screen a day for half a year (14,560
showtimes), ``--bookings`` bookings of two seats each, a payment for each, a
refund for one in ten, an audit row each. Then runs each query the dashboard
and its exports send (seatserver/sales/store.py) ``--runs`` times and prints
the median wall time of fetching every row, and the scans of the big tables
in its plan (``--plans``: the whole plan).

``--before-0017`` also times the two reports as they were before migration
0017, in the same run on the same data: 0017's indexes dropped and 0013's
made again in a transaction that is rolled back, and the queries as 0013 sent
them (``BEFORE_0017``). ``--without-indexes`` times them once with the sales
indexes (``INDEXES``) dropped, in a transaction rolled back too, under a
``--timeout`` per statement: what the indexes are worth (and that the plans
really use them).

    python -m bench.salesreport [--bookings 1000000] [--runs 5] [--plans]
        [--before-0017] [--without-indexes] [--timeout 120] [--no-jit]

``--no-jit`` runs them with PostgreSQL's JIT compilation off (``SET jit =
off``): their estimated costs pass ``jit_above_cost``, and compiling the
plan can take longer than running it.

The figures are wall times: on a machine shared with other work they vary
from run to run (docs/performance.md says on what they were taken).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from bench.report import say
from bench.services import drop_database, fresh_database
from bench.stats import median
from seatserver.sales.store import (
    _REFUNDS,
    _SHOWTIMES,
    BOOKING_ROWS,
    DAILY_SALES,
    SEAT_AUDIT,
    SEAT_BOOKINGS,
    SHOWTIME_SALES,
    window,
)

FIRST_DAY = dt.date(2030, 1, 1)
# The tables a report must not read whole, and the indexes that spare it
# (migrations/0017; they replace 0013's two).
WATCHED = ("bookings", "booking_seats", "payments", "audit_log")
# How to drop each (bookings' is a unique key that booking_seats' foreign key
# to its booking refers to: dropping it drops that key too).
INDEXES = {
    "bookings_showtime_sales_key":
        "ALTER TABLE bookings DROP CONSTRAINT bookings_showtime_sales_key CASCADE",
    "booking_seats_showtime_sales_idx": "DROP INDEX booking_seats_showtime_sales_idx",
    "payments_refunded_idx": "DROP INDEX payments_refunded_idx",
}
# Before 0017: 0013's indexes, and the two reports as they were then (each
# showtime's seats by booking_seats' primary key, one heap fetch a seat).
INDEXES_0013 = (
    "CREATE INDEX bookings_showtime_status_idx ON bookings (showtime_id, status) "
    "INCLUDE (amount, currency)",
    "CREATE INDEX booking_seats_showtime_seat_idx ON booking_seats (showtime_id, seat_id)")
BEFORE_0017 = {
    "showtimes of a week": f"""
WITH st AS ({_SHOWTIMES})
SELECT st.*,
       (SELECT jsonb_object_agg(seat_type, n) FROM (
            SELECT seat_type, count(*) AS n FROM seats WHERE screen_id = st.screen_id
            GROUP BY seat_type) c) AS capacity,
       (SELECT jsonb_object_agg(seat_type, n) FROM (
            SELECT bs.seat_type, count(*) AS n
            FROM bookings b JOIN booking_seats bs ON bs.booking_id = b.id
            WHERE b.showtime_id = st.id AND b.status = 'booked'
            GROUP BY bs.seat_type) c) AS sold,
       (SELECT coalesce(sum(b.amount), 0) FROM bookings b
        WHERE b.showtime_id = st.id AND b.status = 'booked') AS revenue,
       r.refunds, r.refunded
FROM st
CROSS JOIN LATERAL ({_REFUNDS}) r
ORDER BY st.starts_at, st.id LIMIT $6""",
    "per day of a month": f"""
WITH st AS ({_SHOWTIMES}),
cap AS (SELECT screen_id, count(*) AS n FROM seats
        WHERE screen_id IN (SELECT screen_id FROM st) GROUP BY screen_id)
SELECT st.day, st.movie_id, st.title, st.currency, count(*) AS showtimes,
       sum(coalesce(cap.n, 0))::bigint AS capacity, sum(f.sold)::bigint AS sold,
       sum(f.revenue)::bigint AS revenue, sum(r.refunds)::bigint AS refunds,
       sum(r.refunded)::bigint AS refunded
FROM st
LEFT JOIN cap ON cap.screen_id = st.screen_id
CROSS JOIN LATERAL (
    SELECT count(bs.seat_id) AS sold, coalesce(sum(bs.amount), 0) AS revenue
    FROM bookings b JOIN booking_seats bs ON bs.booking_id = b.id
    WHERE b.showtime_id = st.id AND b.status = 'booked') f
CROSS JOIN LATERAL ({_REFUNDS}) r
GROUP BY st.day, st.movie_id, st.title, st.currency
ORDER BY st.day, st.title, st.movie_id, st.currency""",
}

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
           st.first + (g::bigint * 7919) % st.n,  -- bigint: 7919 g passes 2^31
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


async def load(conn: asyncpg.Connection, bookings: int) -> None:
    """``SYNTHETIC`` with ``bookings`` bookings, vacuumed and analysed."""
    await conn.execute(SYNTHETIC.format(bookings=bookings))
    await conn.execute("VACUUM ANALYZE")


def days(first: int, count: int) -> tuple[Any, ...]:
    """``window`` of ``count`` days from the ``first``-th day of the data."""
    start = FIRST_DAY + dt.timedelta(days=first)
    return window(start, start + dt.timedelta(days=count - 1))


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


async def scans(conn: asyncpg.Connection, sql: str, *args: Any) -> list[str]:
    """How the plan reads the watched tables: "Index Scan on bookings", ..."""
    raw = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
    plan = orjson.loads(raw)[0]["Plan"]
    return sorted({f"{n['Node Type']} on {n['Relation Name']}" for n in nodes(plan)
                   if n.get("Relation Name") in WATCHED})


@dataclass(frozen=True)
class Query:
    name: str
    sql: str
    args: tuple[Any, ...]


async def queries(conn: asyncpg.Connection) -> list[Query]:
    """What the dashboard sends: a week's showtimes, a month per day, a week's
    bookings export, and the history of a seat of the busiest showtime."""
    showtime = await conn.fetchval(
        "SELECT showtime_id FROM booking_seats GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
    seat = await conn.fetchval(
        "SELECT seat_id FROM booking_seats WHERE showtime_id = $1 LIMIT 1", showtime)
    ids = [r["id"] for r in await conn.fetch(SEAT_BOOKINGS, showtime, seat)]
    return [
        Query("showtimes of a week", SHOWTIME_SALES, (*days(100, 7), None, 1000)),
        Query("per day of a month", DAILY_SALES, (*days(100, 31), None)),
        Query("bookings CSV of a week", BOOKING_ROWS, (*days(100, 7), None)),
        Query("a seat's bookings", SEAT_BOOKINGS, (showtime, seat)),
        Query("a seat's audit rows", SEAT_AUDIT, (ids,)),
    ]


async def timed(conn: asyncpg.Connection, query: Query) -> tuple[float, list[Any]]:
    """Seconds to fetch every row, and the rows."""
    started = time.perf_counter()
    rows = await conn.fetch(query.sql, *query.args)
    return time.perf_counter() - started, [tuple(r) for r in rows]


async def measure(conn: asyncpg.Connection, todo: list[Query], runs: int,
                  plans: bool) -> dict[str, list[Any]]:
    """Each query's median time over ``runs`` (after one warm-up), its rows and scans;
    returns each one's rows (what the other variants must equal)."""
    out: dict[str, list[Any]] = {}
    for query in todo:
        try:
            # A savepoint inside the caller's transaction: a statement timed
            # out spoils only it.
            async with conn.transaction():
                await timed(conn, query)
                times = []
                for _ in range(runs):
                    took, rows = await timed(conn, query)
                    times.append(took)
            figure = f"{median(times) * 1000:9.1f} ms  ({len(rows)} rows)"
            out[query.name] = rows
        except asyncpg.QueryCanceledError:
            figure = "  timed out"
        read = await scans(conn, query.sql, *query.args)
        print(f"  {query.name:<24} {figure}   {', '.join(read)}", flush=True)
        if plans:
            text = await conn.fetch(f"EXPLAIN {query.sql}", *query.args)
            print("\n".join("      " + r[0] for r in text), flush=True)
    return out


async def before_0017(conn: asyncpg.Connection, todo: list[Query], runs: int, plans: bool,
                      now: dict[str, list[Any]]) -> None:
    """The two reports as before migration 0017, in a transaction rolled back after;
    their rows must be the ones the reports give now."""
    async with conn.transaction():
        for drop in INDEXES.values():
            await conn.execute(drop)
        for create in INDEXES_0013:
            await conn.execute(create)
        await conn.execute("ANALYZE bookings, booking_seats, payments")
        old = [Query(q.name, BEFORE_0017[q.name], q.args) for q in todo
               if q.name in BEFORE_0017]
        then = await measure(conn, old, runs, plans)
        for name, rows in then.items():
            if name in now and rows != now[name]:
                raise SystemExit(f"{name}: the report before 0017 gives other figures")
        raise _Rollback


async def bench(bookings: int, runs: int, plans: bool, before: bool, without: bool,
                statement_s: int, jit: bool) -> None:
    database_url, where, embedded = await fresh_database()
    try:
        conn = await asyncpg.connect(database_url)
        try:
            say(f"loading {bookings:,} bookings into {where} ...")
            started = time.perf_counter()
            await load(conn, bookings)
            say(f"loaded and analysed in {time.perf_counter() - started:.0f} s")
            counts = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM bookings) AS bookings, "
                "(SELECT count(*) FROM booking_seats) AS seats, "
                "(SELECT count(*) FROM showtimes) AS showtimes")
            print(f"{counts['bookings']:,} bookings, {counts['seats']:,} booked seats, "
                  f"{counts['showtimes']:,} showtimes; median of {runs} runs")
            if not jit:
                await conn.execute("SET jit = off")
            print(f"jit: {await conn.fetchval('SHOW jit')}, PostgreSQL "
                  f"{await conn.fetchval('SHOW server_version')}")
            todo = await queries(conn)
            print("with the sales indexes (migrations/0017, index-only):")
            now = await measure(conn, todo, runs, plans)
            if before:
                print("as before 0017 (0013's indexes, seats fetched booking by booking):")
                try:
                    await before_0017(conn, todo, runs, plans, now)
                except _Rollback:
                    pass
            if without:
                print(f"without them (1 run, {statement_s} s per statement at most):")
                async with conn.transaction():
                    for drop in INDEXES.values():
                        await conn.execute(drop)
                    await conn.execute(f"SET LOCAL statement_timeout = '{statement_s}s'")
                    await measure(conn, todo, 1, plans)
                    raise _Rollback
        except _Rollback:
            pass
        finally:
            await conn.close()
    finally:
        await drop_database(database_url)
        if embedded is not None:
            embedded.stop()


class _Rollback(Exception):
    """Leaves the transaction that dropped the indexes, undoing it."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bookings", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--plans", action="store_true", help="print each query's whole plan")
    parser.add_argument("--before-0017", action="store_true",
                        help="time the two reports as they were before migration 0017 too")
    parser.add_argument("--without-indexes", action="store_true",
                        help="time them once more without the sales indexes")
    parser.add_argument("--timeout", type=int, default=120,
                        help="seconds per statement without the indexes")
    parser.add_argument("--no-jit", action="store_true", help="with PostgreSQL's JIT off")
    args = parser.parse_args()
    asyncio.run(bench(args.bookings, args.runs, args.plans, args.before_0017,
                      args.without_indexes, args.timeout, not args.no_jit))


if __name__ == "__main__":
    main()
