"""Public queries: showtimes by movie/theater/city/date, keyset pages, free seats."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from seatserver.catalog.admin import CatalogAdminStore
from seatserver.catalog.availability import Availability
from seatserver.catalog.http import CatalogHandlers
from seatserver.catalog.queries import MovieQuery, ShowtimeQuery
from seatserver.catalog.store import CatalogStore
from seatserver.errors import BadCursor
from seatserver.holds import HoldEngine
from seatserver.http.errors import error_middleware
from tests.catalog.conftest import Venue, local, make_venue

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[[web.Application], Awaitable[Client]]


async def serve(aiohttp_client: ClientFactory, catalog: CatalogStore,
                engine: HoldEngine) -> Client:
    app = web.Application(middlewares=[error_middleware])
    app.router.add_routes(CatalogHandlers(catalog, Availability(engine, catalog)).routes())
    return await aiohttp_client(app)


@pytest.fixture
async def client(aiohttp_client: ClientFactory, catalog: CatalogStore,
                 engine: HoldEngine) -> Client:
    return await serve(aiohttp_client, catalog, engine)


async def get(client: Client, path: str, status: int = 200, **params: Any) -> Any:
    resp = await client.get(path, params={k: str(v) for k, v in params.items()})
    body = await resp.json()
    assert resp.status == status, body
    return body


async def all_pages(catalog: CatalogStore, query: ShowtimeQuery) -> list[list[int]]:
    pages = []
    while True:
        page = await catalog.find_showtimes(query)
        pages.append([s.id for s in page.showtimes])
        if page.next_cursor is None:
            return pages
        query = query.model_copy(update={"cursor": page.next_cursor})


async def test_pages_cover_every_showtime_once_in_start_order(venue: Venue) -> None:
    # Two screens, so several shows may share a start: the id breaks the tie.
    starts = [local(f"2027-07-0{d} {h}:00") for d in (1, 2, 3) for h in (14, 18)]
    made = [(await venue.show(at, screen=s)).id for at in starts for s in (0, 1)]

    pages = await all_pages(venue.catalog, ShowtimeQuery(theater=venue.theater.id, limit=5))

    assert [len(p) for p in pages] == [5, 5, 2]
    assert [i for p in pages for i in p] == made


async def test_inserts_between_pages_cause_no_repeats_or_gaps(venue: Venue) -> None:
    for day in (1, 2, 3, 4):
        await venue.show(local(f"2027-08-0{day} 20:00"))
    query = ShowtimeQuery(theater=venue.theater.id, limit=2)
    first = await venue.catalog.find_showtimes(query)

    earlier = await venue.show(local("2027-07-31 20:00"))  # before the cursor: not seen
    later = await venue.show(local("2027-08-05 20:00"))    # after it: seen
    rest = await all_pages(venue.catalog, query.model_copy(
        update={"cursor": first.next_cursor}))

    seen = [s.id for s in first.showtimes] + [i for p in rest for i in p]
    assert len(seen) == len(set(seen)) == 5
    assert earlier.id not in seen and seen[-1] == later.id


async def test_filters_narrow_by_movie_theater_city_genre_and_local_date(
        venue: Venue, admin: CatalogAdminStore, catalog: CatalogStore) -> None:
    tokyo = await make_venue(admin, catalog, time_zone="Asia/Tokyo", city="Tokyo")
    berlin_late = await venue.show(local("2027-09-10 23:30"))   # Fri 10th in Berlin
    tokyo_show = await tokyo.show(local("2027-09-10 23:30"))    # Sat 11th 06:30 in Tokyo

    def ids(page: Any) -> list[int]:
        return [s.id for s in page.showtimes]

    by_date = await catalog.find_showtimes(ShowtimeQuery(date=date(2027, 9, 10), limit=100))
    assert berlin_late.id in ids(by_date) and tokyo_show.id not in ids(by_date)
    by_date = await catalog.find_showtimes(ShowtimeQuery(date=date(2027, 9, 11), limit=100))
    assert tokyo_show.id in ids(by_date) and berlin_late.id not in ids(by_date)
    in_tokyo = ids(await catalog.find_showtimes(ShowtimeQuery(city="TOKYO", limit=100)))
    assert tokyo_show.id in in_tokyo and berlin_late.id not in in_tokyo
    assert ids(await catalog.find_showtimes(ShowtimeQuery(movie=tokyo.movie.id))) == [
        tokyo_show.id]
    assert ids(await catalog.find_showtimes(ShowtimeQuery(
        theater=venue.theater.id, genre="drama"))) == [berlin_late.id]
    assert ids(await catalog.find_showtimes(ShowtimeQuery(
        theater=venue.theater.id, genre="comedy"))) == []


async def test_movies_now_showing_are_those_with_a_show_still_to_end(
        venue: Venue, admin: CatalogAdminStore, catalog: CatalogStore) -> None:
    other = await make_venue(admin, catalog, city="Hamburg")
    await venue.show(local("2027-09-20 20:00"))

    showing = await catalog.now_showing(MovieQuery(city="berlin"))
    assert venue.movie.id in [m.id for m in showing]
    assert other.movie.id not in [m.id for m in showing]  # no showtime at all
    assert other.movie.id not in [m.id for m in await catalog.now_showing()]


async def test_a_cursor_is_refused_by_another_query_or_when_mangled(venue: Venue) -> None:
    for day in (1, 2, 3):
        await venue.show(local(f"2027-10-0{day} 20:00"))
    query = ShowtimeQuery(theater=venue.theater.id, limit=1)
    cursor = (await venue.catalog.find_showtimes(query)).next_cursor
    assert cursor is not None

    with pytest.raises(BadCursor, match="other filters"):
        await venue.catalog.find_showtimes(query.model_copy(
            update={"cursor": cursor, "city": "Berlin"}))
    for mangled in (cursor[:-3], cursor + "x", "bm90IGEgY3Vyc29y", "!!"):
        with pytest.raises(BadCursor, match="not one this server handed out"):
            await venue.catalog.find_showtimes(query.model_copy(update={"cursor": mangled}))
    # Another page size is the same query: the cursor still works.
    page = await venue.catalog.find_showtimes(query.model_copy(
        update={"cursor": cursor, "limit": 5}))
    assert len(page.showtimes) == 2


async def test_free_seats_per_type_move_when_a_seat_is_held_and_booked(
        client: Client, venue: Venue, engine: HoldEngine) -> None:
    show = await venue.show(local("2027-11-02 20:00"))

    def mine(body: Any) -> Any:
        return next(s for s in body["showtimes"] if s["id"] == show.id)

    body = await get(client, "/api/catalog/showtimes", theater=venue.theater.id)
    assert body["availability"] == "live" and body["notice"] is None
    assert mine(body)["free"] == {"silver": 2, "gold": 2, "vip": 2}

    await engine.hold(show.id, "alice", ["A3", "B1"])
    await engine.book(show.id, "alice", "REF0000001", ["B1"])
    body = await get(client, "/api/catalog/showtimes", theater=venue.theater.id)
    assert mine(body)["free"] == {"silver": 2, "gold": 1, "vip": 1}

    listed = await get(client, "/api/showtimes", theater=venue.theater.id)
    assert [s["free"] for s in listed] == [{"silver": 2, "gold": 1, "vip": 1}]


@pytest.fixture
async def dead_engine() -> AsyncIterator[HoldEngine]:
    """A hold engine whose Redis is not there (nothing listens on port 1)."""
    redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    engine = HoldEngine(redis, hold_ttl_ms=1000, max_seats=4, stream_maxlen=100,
                        backstop_ms=100)
    yield engine
    await engine.close()
    await redis.aclose()


async def test_listings_answer_without_counts_when_redis_is_down(
        aiohttp_client: ClientFactory, catalog: CatalogStore, venue: Venue,
        dead_engine: HoldEngine) -> None:
    show = await venue.show(local("2027-11-03 20:00"))
    client = await serve(aiohttp_client, catalog, dead_engine)

    body = await get(client, "/api/catalog/showtimes", theater=venue.theater.id)
    assert body["availability"] == "unavailable"
    assert "free-seat counts are unavailable" in body["notice"]
    assert [(s["id"], s["free"]) for s in body["showtimes"]] == [(show.id, None)]
    listed = await get(client, "/api/showtimes", theater=venue.theater.id)
    assert [(s["id"], s["free"]) for s in listed] == [(show.id, None)]


async def test_the_paged_listing_over_http(client: Client, venue: Venue) -> None:
    made = [(await venue.show(local(f"2027-12-0{d} 20:00"))).id for d in (1, 2, 3)]

    first = await get(client, "/api/catalog/showtimes", theater=venue.theater.id, limit=2)
    second = await get(client, "/api/catalog/showtimes", theater=venue.theater.id, limit=2,
                       cursor=first["next_cursor"])

    assert [s["id"] for s in first["showtimes"] + second["showtimes"]] == made
    assert second["next_cursor"] is None
    assert list(first) == ["showtimes", "next_cursor", "availability", "notice"]
    show = first["showtimes"][0]
    assert show["starts_at"] == "2027-12-01T20:00:00+01:00"
    assert show["sales_close_at"] == "2027-12-01T19:50:00+01:00"
    assert show["ends_at"] == "2027-12-01T21:40:00+01:00"


@pytest.mark.parametrize(("params", "code", "says"), [
    ({"cursor": "garbage"}, "bad_cursor", "not one this server handed out"),
    ({"limit": 101}, "bad_request", "limit: Input should be less than or equal to 100"),
    ({"limit": 0}, "bad_request", "limit"),
    ({"date": "2027-02-30"}, "bad_request", "date"),
    ({"movie": "abc"}, "bad_request", "movie"),
    ({"colour": "red"}, "bad_request", "unknown parameter 'colour'"),
])
async def test_bad_query_parameters_are_400_with_a_code(
        client: Client, params: dict[str, Any], code: str, says: str) -> None:
    body = await get(client, "/api/catalog/showtimes", 400, **params)

    assert body["error"]["code"] == code
    assert says in body["error"]["message"]


async def test_a_repeated_parameter_is_refused(client: Client) -> None:
    resp = await client.get("/api/catalog/showtimes?city=a&city=b")

    assert resp.status == 400
    assert "more than once: city" in (await resp.json())["error"]["message"]


async def test_the_plain_list_has_no_pages(client: Client) -> None:
    body = await get(client, "/api/showtimes", 400, limit=5)

    assert "no pages" in body["error"]["message"]


async def test_movies_now_showing_over_http(client: Client, venue: Venue) -> None:
    await venue.show(local("2027-12-10 20:00") + timedelta(days=1))

    body = await get(client, "/api/catalog/movies", theater=venue.theater.id)

    assert [m["id"] for m in body["movies"]] == [venue.movie.id]
    assert body["movies"][0]["languages"] == ["en"]


async def test_one_movie_over_http_showing_or_not_with_its_rating(
        client: Client, venue: Venue) -> None:
    body = await get(client, f"/api/catalog/movies/{venue.movie.id}")

    assert (body["id"], body["title"], body["runtime_min"]) == (
        venue.movie.id, venue.movie.title, 100)
    assert body["rating"] == {"average": None, "count": 0}
    assert (await get(client, "/api/catalog/movies/987654321", 404))["error"]["code"] == \
        "not_found"


@pytest.mark.parametrize(("raw", "status"), [
    ("abc", 400), ("%D9%A1%D9%A2", 400), ("1%00", 400), ("-1", 400), ("+1", 400),
    ("0", 404), ("9" * 5000, 404), (str(2**63), 404)])
async def test_a_movie_id_that_is_not_one_is_refused_with_a_code(
        client: Client, raw: str, status: int) -> None:
    body = await get(client, f"/api/catalog/movies/{raw}", status)
    assert body["error"]["code"] == ("bad_request" if status == 400 else "not_found")


async def test_a_listing_reads_its_layouts_in_two_queries_not_two_a_showtime(
        database_url: str, engine: HoldEngine, venue: Venue) -> None:
    for day in range(1, 13):
        await venue.show(local(f"2027-08-{day:02} 20:00"), screen=day % 2)
    queries: list[str] = []
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda record: queries.append(record.query))
        catalog = CatalogStore(pool)  # nothing cached
        availability = Availability(engine, catalog)
        showtimes = await catalog.list_showtimes(ShowtimeQuery(theater=venue.theater.id))
        queries.clear()

        counts = await availability.free(showtimes)
    finally:
        await pool.close()

    assert counts is not None and len(counts) == 12
    assert set(map(str, counts.values())) == {str({"silver": 2, "gold": 2, "vip": 2})}
    catalog_reads = [q for q in queries if "showtimes" in q or "seats" in q]
    assert len(catalog_reads) == 2, catalog_reads
