"""The demo catalog: one cinema, two screens of 212 seats, two evening showtimes.

Idempotent: every row is found by its natural key (slugs, screen name,
showtime start) and inserted only when missing, so running it again, or from
several processes at once, creates nothing new. The showtimes are the next
two 20:00 starts in Berlin at least three hours away, so the demo never lies in
the past and its sales (which close minutes before the start) stay open for
the evening's demo and for a test run started at any hour.

Each day's show plays in the screen of that day's parity (Saal 1 on even
days, Saal 2 on odd ones), so the two demo showtimes never share a screen:
tests may move one to any time without it overlapping the other.

Prices come from the theater's rules: the weekday and weekend price of each
seat type. Gold keeps one price all week (the browser tests pay for gold
seats on whatever day they run); silver and VIP cost more at weekends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg

TIME_ZONE = ZoneInfo("Europe/Berlin")
CURRENCY = "EUR"
PRICES = {"weekday": {"silver": 950, "gold": 1250, "vip": 1800},
          "weekend": {"silver": 1100, "gold": 1250, "vip": 2000}}
SCREENS = ("Saal 1", "Saal 2")
SHOW_TIME = time(20, 0)
# How far ahead the first demo start is at least: longer than sales stay closed
# before a start (SEATSERVER_SALES_CLOSE_MIN) plus a whole test run.
LEAD = timedelta(hours=3)

ROWS = "ABCDEFGHIJKL"
SEATS_PER_SIDE = 9
# Grid columns: 0-8 left block, 9 the centre aisle, 10-18 right block.
AISLE_X = SEATS_PER_SIDE
GRID_WIDTH = 2 * SEATS_PER_SIDE + 1
# The front rows are narrower: their outermost grid cells stay empty.
SHORT_ROWS = "AB"
SILVER_ROWS = "ABCD"
VIP_ROWS = "KL"
# Wheelchair spaces at the ends of the front row and of the first VIP row.
ACCESSIBLE_ROWS = "AK"


@dataclass(frozen=True, slots=True)
class DemoSeat:
    seat_id: str
    row: str
    number: int
    seat_type: str
    x: int
    y: int
    accessible: bool


def demo_seats() -> list[DemoSeat]:
    """The demo screen's seats, numbered left to right across the aisle."""
    seats: list[DemoSeat] = []
    for y, row in enumerate(ROWS):
        xs = [x for x in range(GRID_WIDTH) if x != AISLE_X]
        if row in SHORT_ROWS:
            xs = xs[1:-1]
        kind = "silver" if row in SILVER_ROWS else "vip" if row in VIP_ROWS else "gold"
        for number, x in enumerate(xs, start=1):
            at_end = number in (1, len(xs))
            seats.append(DemoSeat(f"{row}{number}", row, number, kind, x, y,
                                  at_end and row in ACCESSIBLE_ROWS))
    return seats


def demo_start_times(now: datetime) -> list[datetime]:
    """The next two 20:00 starts in Berlin at least ``LEAD`` after ``now``."""
    local_now = now.astimezone(TIME_ZONE)
    first_day: date = local_now.date()
    if datetime.combine(first_day, SHOW_TIME, TIME_ZONE) < local_now + LEAD:
        first_day += timedelta(days=1)
    return [datetime.combine(first_day + timedelta(days=d), SHOW_TIME, TIME_ZONE)
            for d in (0, 1)]


async def seed_demo(pool: asyncpg.Pool, *, now: datetime | None = None) -> list[int]:
    """Create the demo catalog where missing; returns the demo showtime ids, earliest first."""
    starts = demo_start_times(now or datetime.now(TIME_ZONE))
    async with pool.acquire() as conn, conn.transaction():
        movie_id = await _movie(conn)
        theater_id = await _theater(conn)
        await _price_rules(conn, theater_id)
        screens = [await _screen(conn, theater_id, name) for name in SCREENS]
        for screen_id in screens:
            await _seats(conn, screen_id)
        return [await _showtime(conn, movie_id, screens, at) for at in starts]


def screen_of_day(screens: list[int], starts_at: datetime) -> int:
    """The demo screen that plays on the (Berlin) day of ``starts_at``."""
    return screens[starts_at.astimezone(TIME_ZONE).toordinal() % len(screens)]


async def _insert_or_get(conn: asyncpg.Connection, insert: str, select: str,
                         key: tuple[object, ...], *rest: object) -> int:
    """The id of the row with natural ``key``, inserting it (``key + rest``) if missing."""
    # Look first: an INSERT that conflicts still uses up an identity value,
    # and the demo's ids should not creep up with every start.
    found: int | None = await conn.fetchval(select, *key)
    if found is None:
        found = await conn.fetchval(insert, *key, *rest)
    if found is None:
        # Another process inserted it between our look and our insert.
        found = await conn.fetchval(select, *key)
    if found is None:
        # Or another row stands in its way (an overlapping showtime).
        raise RuntimeError(f"seed row {key} could neither be found nor inserted: {select}")
    return found


async def _movie(conn: asyncpg.Connection) -> int:
    return await _insert_or_get(
        conn,
        """INSERT INTO movies (slug, title, synopsis, runtime_min, certificate)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (slug) DO NOTHING RETURNING id""",
        "SELECT id FROM movies WHERE slug = $1",
        ("northern-lights",), "Northern Lights",
        "Two rival astronomers race across Lapland to film the storm of the century.",
        118, "12",
    )


async def _theater(conn: asyncpg.Connection) -> int:
    return await _insert_or_get(
        conn,
        """INSERT INTO theaters (slug, name, city, address, time_zone)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (slug) DO NOTHING RETURNING id""",
        "SELECT id FROM theaters WHERE slug = $1",
        ("kino-am-kanal",), "Kino am Kanal", "Berlin", "Paul-Lincke-Ufer 1, 10999 Berlin",
        TIME_ZONE.key,
    )


async def _price_rules(conn: asyncpg.Connection, theater_id: int) -> None:
    await conn.executemany(
        """INSERT INTO price_rules (theater_id, seat_type, day_kind, amount, currency)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
        [(theater_id, kind, day, amount, CURRENCY)
         for day, amounts in PRICES.items() for kind, amount in amounts.items()],
    )


async def _screen(conn: asyncpg.Connection, theater_id: int, name: str) -> int:
    layout = f'{{"width": {GRID_WIDTH}, "height": {len(ROWS)}, "screen": "top"}}'
    return await _insert_or_get(
        conn,
        """INSERT INTO screens (theater_id, name, layout) VALUES ($1, $2, $3::jsonb)
           ON CONFLICT (theater_id, name) DO NOTHING RETURNING id""",
        "SELECT id FROM screens WHERE theater_id = $1 AND name = $2",
        (theater_id, name), layout,
    )


async def _seats(conn: asyncpg.Connection, screen_id: int) -> None:
    await conn.executemany(
        """INSERT INTO seats (screen_id, seat_id, "row", number, seat_type, x, y, accessible)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING""",
        [(screen_id, s.seat_id, s.row, s.number, s.seat_type, s.x, s.y, s.accessible)
         for s in demo_seats()],
    )


async def _showtime(conn: asyncpg.Connection, movie_id: int, screens: list[int],
                    starts_at: datetime) -> int:
    # Found on any demo screen: databases seeded before the second screen
    # existed have every demo show in Saal 1.
    found: int | None = await conn.fetchval(
        "SELECT id FROM showtimes WHERE screen_id = any($1::bigint[]) AND starts_at = $2",
        screens, starts_at)
    if found is not None:
        return found
    return await _insert_or_get(
        conn,
        # No conflict target: an overlapping show is a conflict too (the
        # exclusion constraint), and then the lookup below finds nothing.
        # The orphan rule off: the demo serves load tests and random clickers
        # (tests, loadgen, bench) that hold seats one at a time anywhere; an
        # admin turns it on per showtime (on by default for new ones).
        """INSERT INTO showtimes (screen_id, starts_at, movie_id, currency, no_orphans)
           VALUES ($1, $2, $3, $4, false) ON CONFLICT DO NOTHING RETURNING id""",
        "SELECT id FROM showtimes WHERE screen_id = $1 AND starts_at = $2",
        (screen_of_day(screens, starts_at), starts_at), movie_id, CURRENCY,
    )
