from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson

from seatserver.catalog.pricing import day_kind
from seatserver.catalog.seed import PRICES, TIME_ZONE, demo_start_times, seed_demo
from seatserver.catalog.store import CatalogStore
from seatserver.db import create_pool, migrate
from tests.catalog.conftest import Venue

SEAT_KEYS = ["id", "row", "number", "type", "price", "x", "y", "accessible", "companion_of"]
TABLES = ["movies", "theaters", "screens", "seats", "showtimes", "showtime_prices",
          "price_rules"]


async def add_showtime(pool: asyncpg.Pool, venue: Venue, starts_at: datetime,
                       showtime_id: int | None = None) -> int:
    """A showtime on the venue's first screen, raw (past starts allowed, id chosen)."""
    async with pool.acquire() as conn:
        created: int = await conn.fetchval(
            """INSERT INTO showtimes (id, movie_id, screen_id, starts_at, currency)
               VALUES (coalesce($3, nextval(pg_get_serial_sequence('showtimes', 'id'))),
                       $1, $2, $4, 'EUR')
               RETURNING id""", venue.movie.id, venue.screens[0].id, showtime_id, starts_at)
    return created


async def test_showtime_detail_has_every_seat_priced_as_design_says(
        db_pool: asyncpg.Pool, demo: list[int]) -> None:
    detail = await CatalogStore(db_pool).get_showtime(demo[0])

    assert detail is not None
    body = orjson.loads(orjson.dumps(detail))
    assert len(body["seats"]) == 212
    assert all(list(seat) == SEAT_KEYS for seat in body["seats"])
    a1 = next(seat for seat in body["seats"] if seat["id"] == "A1")
    prices = PRICES[day_kind(detail.starts_at, TIME_ZONE)]
    assert a1 == {"id": "A1", "row": "A", "number": 1, "type": "silver",
                  "price": {"amount": prices["silver"], "currency": "EUR"}, "x": 1, "y": 0,
                  "accessible": True, "companion_of": None}
    assert body["movie"]["title"] == "Northern Lights"
    assert body["theater"]["time_zone"] == "Europe/Berlin"
    assert body["prices"] == {kind: {"amount": prices[kind], "currency": "EUR"}
                              for kind in ("silver", "gold", "vip")}
    assert list(body["prices"]) == ["silver", "gold", "vip"]  # cheapest first


async def test_showtime_starts_at_is_shown_in_the_theater_time_zone(
        db_pool: asyncpg.Pool, demo: list[int]) -> None:
    detail = await CatalogStore(db_pool).get_showtime(demo[0])

    assert detail is not None
    assert detail.starts_at.hour == 20
    assert orjson.dumps(detail.starts_at).decode()[-7:-1] in ("+01:00", "+02:00")


async def test_unknown_showtime_has_no_detail_and_no_layout(
        db_pool: asyncpg.Pool, demo: list[int]) -> None:
    store = CatalogStore(db_pool)

    assert await store.get_showtime(max(demo) + 1000) is None
    assert await store.layout(max(demo) + 1000) is None
    assert await store.layout(2**70) is None


async def test_list_has_the_upcoming_showtimes_earliest_first(
        db_pool: asyncpg.Pool, demo: list[int]) -> None:
    listed = await CatalogStore(db_pool).list_showtimes()

    ids = [s.id for s in listed]
    assert [i for i in ids if i in demo] == demo
    assert [s.starts_at for s in listed] == sorted(s.starts_at for s in listed)


async def test_list_leaves_out_showtimes_that_have_ended(
        db_pool: asyncpg.Pool, venue: Venue) -> None:
    ended = await add_showtime(db_pool, venue, datetime.now(UTC) - timedelta(days=3))
    running = await add_showtime(db_pool, venue, datetime.now(UTC) - timedelta(minutes=30))

    ids = [s.id for s in await CatalogStore(db_pool).list_showtimes()]

    assert ended not in ids
    assert running in ids


async def test_layout_knows_every_seat_and_counts_them_per_type(
        db_pool: asyncpg.Pool, demo: list[int]) -> None:
    layout = await CatalogStore(db_pool).layout(demo[0])

    assert layout is not None
    assert layout.showtime_id == demo[0]
    assert layout.types == {"silver": 68, "gold": 108, "vip": 36}
    assert layout.unknown(["A1", "L18", "Z9", "A17"]) == ["Z9", "A17"]
    assert layout.seats["L18"].type == "vip"


async def test_a_missing_showtime_stays_missing_until_invalidated(
        db_pool: asyncpg.Pool, venue: Venue) -> None:
    store = CatalogStore(db_pool)
    async with db_pool.acquire() as conn:
        next_id: int = await conn.fetchval(
            "SELECT nextval(pg_get_serial_sequence('showtimes', 'id'))")
    assert await store.layout(next_id) is None

    created = await add_showtime(db_pool, venue, datetime.now(UTC) + timedelta(days=30),
                                 next_id)

    assert await store.layout(created) is None  # the miss is cached for a moment
    store.invalidate(created)
    assert await store.layout(created) is not None


async def test_concurrent_cold_lookups_share_one_layout(
        db_pool: asyncpg.Pool, demo: list[int]) -> None:
    store = CatalogStore(db_pool)

    layouts = await asyncio.gather(*(store.layout(demo[1]) for _ in range(50)))

    assert all(layout is layouts[0] for layout in layouts)
    assert await store.layout(demo[1]) is layouts[0]


async def test_demo_screen_has_an_aisle_silver_front_and_vip_back(
        db_pool: asyncpg.Pool, demo: list[int]) -> None:
    layout = await CatalogStore(db_pool).layout(demo[0])

    assert layout is not None
    seats = layout.seats.values()
    assert {s.row for s in seats} == set("ABCDEFGHIJKL")
    assert not any(s.x == 9 for s in seats)
    assert {s.type for s in seats if s.row == "A"} == {"silver"}
    assert {s.type for s in seats if s.row == "F"} == {"gold"}
    assert {s.type for s in seats if s.row == "L"} == {"vip"}
    assert sorted(s.id for s in seats if s.accessible) == ["A1", "A16", "K1", "K18"]


async def test_seeding_the_demo_again_creates_nothing_new(
        db_pool: asyncpg.Pool, demo: list[int]) -> None:
    async def counts() -> dict[str, int]:
        async with db_pool.acquire() as conn:
            return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}

    before = await counts()

    assert await seed_demo(db_pool) == demo
    assert await counts() == before


def test_demo_showtimes_are_the_next_two_evenings_at_least_three_hours_away() -> None:
    morning = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    afternoon = datetime(2026, 3, 10, 15, 59, tzinfo=UTC)  # 16:59 in Berlin
    sales_closing = datetime(2026, 3, 10, 18, 55, tzinfo=UTC)  # 19:55: today's sales closed
    late = datetime(2026, 3, 10, 21, 0, tzinfo=UTC)

    assert [t.isoformat() for t in demo_start_times(morning)] == [
        "2026-03-10T20:00:00+01:00", "2026-03-11T20:00:00+01:00"]
    assert [t.isoformat() for t in demo_start_times(afternoon)] == [
        "2026-03-10T20:00:00+01:00", "2026-03-11T20:00:00+01:00"]
    for evening in (afternoon + timedelta(minutes=2), sales_closing, late):
        assert [t.isoformat() for t in demo_start_times(evening)] == [
            "2026-03-11T20:00:00+01:00", "2026-03-12T20:00:00+01:00"]


async def test_concurrent_seeding_creates_the_demo_once(fresh_database_url: str) -> None:
    await migrate(fresh_database_url)
    pool = await create_pool(fresh_database_url, 4)
    try:
        results = await asyncio.gather(*(seed_demo(pool) for _ in range(3)))
        async with pool.acquire() as conn:
            showtimes = await conn.fetchval("SELECT count(*) FROM showtimes")
    finally:
        await pool.close()

    assert results[0] == results[1] == results[2]
    assert showtimes == 2


async def test_the_two_demo_showtimes_play_on_different_screens_with_one_layout(
        db_pool: asyncpg.Pool, demo: list[int]) -> None:
    store = CatalogStore(db_pool)
    first, second = [await store.get_showtime(i) for i in demo]

    assert first is not None and second is not None
    assert {first.screen.name, second.screen.name} == {"Saal 1", "Saal 2"}
    assert [s.id for s in first.seats] == [s.id for s in second.seats]
