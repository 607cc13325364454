"""The demo catalog: one cinema, one screen of 212 seats, two evening showtimes.

Idempotent: every row is found by its natural key (slugs, screen name,
showtime start) and inserted only when missing, so running it again, or from
several processes at once, creates nothing new. The showtimes are the next
two 20:00 starts in Berlin from now, so the demo never lies in the past.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg

TIME_ZONE = ZoneInfo("Europe/Berlin")
CURRENCY = "EUR"
PRICES = {"silver": 950, "gold": 1250, "vip": 1800}
SHOW_TIME = time(20, 0)

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
    """The next two 20:00 starts in Berlin that have not begun at ``now``."""
    local_now = now.astimezone(TIME_ZONE)
    first_day: date = local_now.date()
    if datetime.combine(first_day, SHOW_TIME, TIME_ZONE) <= local_now:
        first_day += timedelta(days=1)
    return [datetime.combine(first_day + timedelta(days=d), SHOW_TIME, TIME_ZONE)
            for d in (0, 1)]


async def seed_demo(pool: asyncpg.Pool, *, now: datetime | None = None) -> list[int]:
    """Create the demo catalog where missing; returns the demo showtime ids, earliest first."""
    starts = demo_start_times(now or datetime.now(TIME_ZONE))
    async with pool.acquire() as conn, conn.transaction():
        movie_id = await _movie(conn)
        screen_id = await _screen(conn, await _theater(conn))
        await _seats(conn, screen_id)
        return [await _showtime(conn, movie_id, screen_id, at) for at in starts]


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
        raise RuntimeError(f"seed row vanished: {select}")
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


async def _screen(conn: asyncpg.Connection, theater_id: int) -> int:
    layout = f'{{"width": {GRID_WIDTH}, "height": {len(ROWS)}, "screen": "top"}}'
    return await _insert_or_get(
        conn,
        """INSERT INTO screens (theater_id, name, layout) VALUES ($1, $2, $3::jsonb)
           ON CONFLICT (theater_id, name) DO NOTHING RETURNING id""",
        "SELECT id FROM screens WHERE theater_id = $1 AND name = $2",
        (theater_id, "Saal 1"), layout,
    )


async def _seats(conn: asyncpg.Connection, screen_id: int) -> None:
    await conn.executemany(
        """INSERT INTO seats (screen_id, seat_id, "row", number, seat_type, x, y, accessible)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING""",
        [(screen_id, s.seat_id, s.row, s.number, s.seat_type, s.x, s.y, s.accessible)
         for s in demo_seats()],
    )


async def _showtime(conn: asyncpg.Connection, movie_id: int, screen_id: int,
                    starts_at: datetime) -> int:
    showtime_id = await _insert_or_get(
        conn,
        """INSERT INTO showtimes (screen_id, starts_at, movie_id, currency)
           VALUES ($1, $2, $3, $4) ON CONFLICT (screen_id, starts_at) DO NOTHING RETURNING id""",
        "SELECT id FROM showtimes WHERE screen_id = $1 AND starts_at = $2",
        (screen_id, starts_at), movie_id, CURRENCY,
    )
    await conn.executemany(
        """INSERT INTO showtime_prices (showtime_id, seat_type, amount) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING""",
        [(showtime_id, kind, amount) for kind, amount in PRICES.items()],
    )
    return showtime_id
