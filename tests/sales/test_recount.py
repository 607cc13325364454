"""The sales reports read from migration 0017's indexes give the figures of a
plain recount: random showtimes in two time zones, random bookings in every
status (seats of three types, amounts that need not add up to the booking's),
payments with and without refunds, then random cancellations, refunds,
bookings paid late and bookings deleted; each report is compared with the
same figures counted in Python from the rows themselves.

Compared four ways: before and after VACUUM (index-only scans fetch the rows
of pages not yet all visible from the heap; after a vacuum they do not), each
with the planner free and with sequential scans off (on a data set this small
it might read the tables whole, which would not test the index paths).
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import orjson
import pytest

from seatserver.db import migrate
from seatserver.sales.store import DAILY_SALES, SHOWTIME_SALES, window
from tests.services import drop_database, make_database

ZONES = ("Europe/Berlin", "America/Los_Angeles")
TYPES = ("silver", "gold", "vip")
STATUSES = ("pending", "booked", "expired", "cancelled")
FIRST = dt.date(2031, 3, 1)
DAYS = 6


@pytest.fixture
def dsn(services: Any) -> Iterator[str]:
    name, url = make_database(services.database_url, prefix="seatserver_recount")
    try:
        yield url
    finally:
        drop_database(services.database_url, name)


@pytest.fixture
async def conn(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    await migrate(dsn)
    connection = await asyncpg.connect(dsn)
    try:
        yield connection
    finally:
        await connection.close()


async def make_sales(conn: asyncpg.Connection, rng: random.Random) -> None:
    """Theaters, screens, showtimes around midnight of both zones, bookings, payments."""
    movies = [await conn.fetchval(
        "INSERT INTO movies (slug, title, runtime_min) VALUES ($1, $2, 90) RETURNING id",
        f"m{i}", f"Movie {i}") for i in range(3)]
    screens = []
    for z, zone in enumerate(ZONES):
        theater = await conn.fetchval(
            "INSERT INTO theaters (slug, name, city, time_zone) VALUES ($1, $1, 'C', $2) "
            "RETURNING id", f"t{z}", zone)
        for k in range(2):
            screen = await conn.fetchval(
                "INSERT INTO screens (theater_id, name) VALUES ($1, $2) RETURNING id",
                theater, f"S{k}")
            seats = [(screen, f"{chr(65 + r)}{n}", chr(65 + r), n, rng.choice(TYPES), n, r)
                     for r in range(4) for n in range(1, 6 + k)]
            await conn.executemany(
                'INSERT INTO seats (screen_id, seat_id, "row", number, seat_type, x, y) '
                "VALUES ($1, $2, $3, $4, $5, $6, $7)", seats)
            screens.append((screen, [s[1] for s in seats], [s[4] for s in seats]))
    users = [await conn.fetchval("INSERT INTO users (kind) VALUES ('guest') RETURNING id")
             for _ in range(5)]
    start = dt.datetime.combine(FIRST - dt.timedelta(days=1), dt.time(), dt.UTC)
    reference = 0
    for screen, seat_ids, seat_types in screens:
        # Every 3 h 20 min over the range and a day either side: some start on
        # another day in their zone than in UTC, some fall outside the range.
        for i in range((DAYS + 2) * 24 * 3 // 10):
            starts = start + dt.timedelta(minutes=200 * i)
            showtime = await conn.fetchval(
                "INSERT INTO showtimes (movie_id, screen_id, starts_at, currency) "
                "VALUES ($1, $2, $3, $4) RETURNING id",
                rng.choice(movies), screen, starts, rng.choice(("EUR", "EUR", "USD")))
            free = list(zip(seat_ids, seat_types, strict=True))
            rng.shuffle(free)
            while free and rng.random() < 0.85:
                take = [free.pop() for _ in range(min(len(free), rng.randint(1, 3)))]
                status = rng.choice(STATUSES)
                amounts = [rng.choice((0, 900, 1200, 1500)) for _ in take]
                reference += 1
                booking = await conn.fetchval(
                    "INSERT INTO bookings (reference, user_id, showtime_id, status, amount, "
                    "currency, hold_deadline) VALUES ($1, $2, $3, $4, $5, 'EUR', now()) "
                    "RETURNING id",
                    f"R{reference:09d}", rng.choice(users), showtime, status,
                    sum(amounts) + rng.choice((0, 0, 0, 150)))
                await conn.executemany(
                    "INSERT INTO booking_seats (booking_id, showtime_id, seat_id, seat_type, "
                    "amount, active) VALUES ($1, $2, $3, $4, $5, $6)",
                    [(booking, showtime, seat, kind, amount,
                      status in ("pending", "booked"))
                     for (seat, kind), amount in zip(take, amounts, strict=True)])
                for p in range(rng.choice((0, 1, 1, 1, 2))):
                    await conn.execute(
                        "INSERT INTO payments (booking_id, provider, provider_order_id, amount, "
                        "currency, status, refunded_amount) "
                        "VALUES ($1, 'simulated', $2, 100, 'EUR', 'captured', $3)",
                        booking, f"o{booking}-{p}", rng.choice((0, 0, 0, 100, 40)))


async def change_sales(conn: asyncpg.Connection, rng: random.Random) -> None:
    """Cancellations, late payments, refunds given, bookings deleted (without payments)."""
    ids = [r["id"] for r in await conn.fetch("SELECT id FROM bookings ORDER BY id")]
    for booking in rng.sample(ids, len(ids) // 4):
        await conn.execute("UPDATE bookings SET status = $2 WHERE id = $1",
                           booking, rng.choice(("booked", "cancelled", "expired")))
    payments = [r["id"] for r in await conn.fetch("SELECT id FROM payments ORDER BY id")]
    for payment in rng.sample(payments, len(payments) // 5):
        await conn.execute("UPDATE payments SET refunded_amount = $2 WHERE id = $1",
                           payment, rng.choice((0, 60, 100)))
    unpaid = [r["id"] for r in await conn.fetch(
        "SELECT id FROM bookings b WHERE NOT EXISTS "
        "(SELECT 1 FROM payments p WHERE p.booking_id = b.id) ORDER BY id")]
    await conn.execute("DELETE FROM bookings WHERE id = ANY($1)",
                       rng.sample(unpaid, len(unpaid) // 5))


async def recount(conn: asyncpg.Connection, first: dt.date, last: dt.date
                  ) -> tuple[dict[int, Any], list[Any]]:
    """Each showtime's and each day and movie's figures, counted in Python."""
    showtimes = await conn.fetch(
        "SELECT s.id, s.starts_at, s.screen_id, s.movie_id, m.title, s.currency, t.time_zone "
        "FROM showtimes s JOIN movies m ON m.id = s.movie_id "
        "JOIN screens sc ON sc.id = s.screen_id JOIN theaters t ON t.id = sc.theater_id")
    capacity: dict[int, Counter[str]] = defaultdict(Counter)
    for seat in await conn.fetch("SELECT screen_id, seat_type FROM seats"):
        capacity[seat["screen_id"]][seat["seat_type"]] += 1
    bookings = {b["id"]: b for b in await conn.fetch("SELECT * FROM bookings")}
    seats = await conn.fetch("SELECT * FROM booking_seats")
    payments = await conn.fetch("SELECT * FROM payments")

    sold: dict[int, Counter[str]] = defaultdict(Counter)
    seat_revenue: Counter[int] = Counter()
    for seat in seats:
        booking = bookings[seat["booking_id"]]
        if booking["status"] == "booked":
            sold[booking["showtime_id"]][seat["seat_type"]] += 1
            seat_revenue[booking["showtime_id"]] += seat["amount"]
    revenue: Counter[int] = Counter()
    for booking in bookings.values():
        if booking["status"] == "booked":
            revenue[booking["showtime_id"]] += booking["amount"]
    refunded_bookings: dict[int, set[int]] = defaultdict(set)
    refunded: Counter[int] = Counter()
    for payment in payments:
        booking = bookings[payment["booking_id"]]
        if payment["refunded_amount"] > 0 and booking["status"] in ("booked", "cancelled"):
            refunded_bookings[booking["showtime_id"]].add(booking["id"])
            refunded[booking["showtime_id"]] += payment["refunded_amount"]

    per_showtime: dict[int, Any] = {}
    per_day: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * 6)
    for s in showtimes:
        day = s["starts_at"].astimezone(ZoneInfo(s["time_zone"])).date()
        if not first <= day <= last:
            continue
        sid = s["id"]
        per_showtime[sid] = (day, dict(capacity[s["screen_id"]]), dict(sold[sid]),
                             revenue[sid], len(refunded_bookings[sid]), refunded[sid])
        figures = per_day[(day, s["movie_id"], s["title"], s["currency"])]
        for i, value in enumerate((1, capacity[s["screen_id"]].total(),
                                   sold[sid].total(), seat_revenue[sid],
                                   len(refunded_bookings[sid]), refunded[sid])):
            figures[i] += value
    daily = [(*key, *figures) for key, figures in sorted(
        per_day.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][1], kv[0][3]))]
    return per_showtime, daily


async def reported(conn: asyncpg.Connection, first: dt.date, last: dt.date
                   ) -> tuple[dict[int, Any], list[Any]]:
    rows = await conn.fetch(SHOWTIME_SALES, *window(first, last), None, 1000)
    assert len(rows) < 1000
    per_showtime = {r["id"]: (r["day"], orjson.loads(r["capacity"]),
                              orjson.loads(r["sold"]) if r["sold"] else {},
                              r["revenue"], r["refunds"], r["refunded"]) for r in rows}
    daily = [(r["day"], r["movie_id"], r["title"], r["currency"], r["showtimes"],
              r["capacity"], r["sold"], r["revenue"], r["refunds"], r["refunded"])
             for r in await conn.fetch(DAILY_SALES, *window(first, last), None)]
    return per_showtime, daily


async def compare(conn: asyncpg.Connection) -> int:
    """Both reports against the recount over a few ranges; the sales compared."""
    compared = 0
    for offset, days in ((0, DAYS), (1, 1), (2, 3), (-1, 1)):
        first = FIRST + dt.timedelta(days=offset)
        last = first + dt.timedelta(days=days - 1)
        expected = await recount(conn, first, last)
        for seqscan in ("on", "off"):
            await conn.execute(f"SET enable_seqscan = {seqscan}")
            assert await reported(conn, first, last) == expected, (first, last, seqscan)
        await conn.execute("RESET enable_seqscan")
        compared += sum(sum(f[2].values()) for f in expected[0].values())
    return compared


@pytest.mark.parametrize("seed", [1, 2])
async def test_the_reports_equal_a_recount_of_random_sales(
        conn: asyncpg.Connection, seed: int) -> None:
    rng = random.Random(seed)
    await make_sales(conn, rng)
    await conn.execute("ANALYZE")
    assert await compare(conn) > 50  # seats sold in the ranges compared
    await change_sales(conn, rng)
    assert await compare(conn) > 50  # rows changed: pages not all visible
    await conn.execute("VACUUM ANALYZE bookings, booking_seats, payments")
    assert await compare(conn) > 50  # all visible: nothing from the heap
    status = Counter(r["status"] for r in await conn.fetch("SELECT status FROM bookings"))
    assert set(status) == set(STATUSES), status


async def test_a_seat_is_of_its_bookings_showtime(conn: asyncpg.Connection) -> None:
    """The reports read a showtime's seats by the seats' showtime_id and its bookings
    by theirs: migration 0017's foreign key refuses a seat whose showtime is not its
    booking's, so both name the same sales."""
    await make_sales(conn, random.Random(4))
    booking, showtime = await conn.fetchrow(
        "SELECT id, showtime_id FROM bookings ORDER BY id LIMIT 1")
    other = await conn.fetchval("SELECT id FROM showtimes WHERE id <> $1 LIMIT 1", showtime)
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await conn.execute(
            "INSERT INTO booking_seats (booking_id, showtime_id, seat_id, seat_type, amount, "
            "active) VALUES ($1, $2, 'Z9', 'gold', 0, false)", booking, other)
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await conn.execute("UPDATE booking_seats SET showtime_id = $2 WHERE booking_id = $1",
                           booking, other)
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await conn.execute("UPDATE bookings SET showtime_id = $2 WHERE id = $1",
                           booking, other)
    # A booking deleted still takes its seats with it.
    await conn.execute("DELETE FROM payments WHERE booking_id = $1", booking)
    await conn.execute("DELETE FROM bookings WHERE id = $1", booking)
    assert not await conn.fetchval(
        "SELECT count(*) FROM booking_seats WHERE booking_id = $1", booking)
