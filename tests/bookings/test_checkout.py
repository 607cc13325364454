"""Checkout and payment through the wire: HTTP API, provider page, WebSocket rooms."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import asyncpg
import pytest
import redis

from seatserver.loadgen.client import SeatClient
from tests.bookings.conftest import Buyer
from tests.support import eventually

BuyerFactory = Callable[..., Awaitable[Buyer]]


@pytest.fixture
async def ws(http: aiohttp.ClientSession, base_url: str) -> AsyncIterator[
        Callable[[Buyer], Awaitable[SeatClient]]]:
    opened: list[SeatClient] = []

    async def make(buyer: Buyer) -> SeatClient:
        client = await SeatClient(http, buyer.base, buyer.token).connect()
        opened.append(client)
        return client
    yield make
    for client in opened:
        await client.close()


@pytest.fixture
async def buyer(buyer_at: BuyerFactory, base_url: str) -> Buyer:
    return await buyer_at(base_url)


async def test_paid_checkout_books_seats_live_and_shows_a_ticket(
        buyer: Buyer, buyer_at: BuyerFactory, base_url: str, ws: Any, showtime: int,
        seats: list[str], db_pool: asyncpg.Pool) -> None:
    watcher = await ws(await buyer_at(base_url))
    watcher.keep_frames = True
    await watcher.subscribe(showtime)
    client = await ws(buyer)
    assert (await client.hold(showtime, seats[:2]))["ok"] is True

    status, booking = await buyer.checkout(showtime, "k1")
    assert status == 201, booking
    assert booking["status"] == "pending" and booking["payment"]["status"] == "created"
    assert sorted(s["id"] for s in booking["seats"]) == sorted(seats[:2])
    assert booking["total"]["amount"] == sum(s["price"]["amount"] for s in booking["seats"])

    async with buyer.http.get(base_url + booking["checkout_url"]) as page:
        assert page.status == 200 and "Pay " in await page.text()
    landed = await buyer.pay(booking["checkout_url"], "pay")
    assert landed == f"/bookings/{booking['reference']}"

    done = await buyer.booking(booking["reference"])
    assert done["status"] == "booked" and done["payment"]["status"] == "captured"
    assert done["ticket"].startswith(booking["reference"] + ".")
    await eventually(lambda: watcher.views[showtime].booked == set(seats[:2]))
    assert set(watcher.frames[-1]["reasons"].values()) == {"book"}
    async with buyer.http.get(base_url + landed, headers=buyer.auth) as receipt:
        assert "booked" in await receipt.text()
    status, history = await buyer.call("GET", "/api/bookings")
    assert [b["reference"] for b in history] == [booking["reference"]]
    # The webhook arrives too and is recorded beside the signed return; nothing doubles.
    async with db_pool.acquire() as conn:
        await _until(conn, "SELECT count(*) FROM payment_events", 2)
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 1
    assert watcher.violations == []


async def _until(conn: asyncpg.Connection, query: str, want: int) -> None:
    for _ in range(200):
        if await conn.fetchval(query) == want:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{query} never reached {want}")


@pytest.mark.parametrize("action", ["decline", "timeout"])
async def test_failed_payment_expires_booking_and_frees_seats_live(
        buyer: Buyer, buyer_at: BuyerFactory, base_url: str, ws: Any, showtime: int,
        seats: list[str], action: str) -> None:
    watcher = await ws(await buyer_at(base_url))
    watcher.keep_frames = True
    await watcher.subscribe(showtime)
    await (await ws(buyer)).hold(showtime, seats[:2])
    _, booking = await buyer.checkout(showtime, "k1")
    await buyer.pay(booking["checkout_url"], action)
    assert (await buyer.booking(booking["reference"]))["status"] == "expired"
    await eventually(lambda: not watcher.views[showtime].held)
    assert set(watcher.frames[-1]["reasons"].values()) == {"release"}
    # Free for the next buyer.
    assert (await watcher.hold(showtime, seats[:2]))["ok"] is True


async def test_checkout_refusals_carry_codes(buyer: Buyer, ws: Any, showtime: int,
                                             seats: list[str]) -> None:
    status, body = await buyer.checkout(showtime, "a")
    assert (status, body["error"]["code"]) == (422, "nothing_to_book")
    status, body = await buyer.checkout(showtime, "b", seats[:1])
    assert (status, body["error"]["code"]) == (409, "hold_expired")
    await (await ws(buyer)).hold(showtime, seats[:1])
    status, body = await buyer.checkout(showtime, "c", seats[1:2])
    assert (status, body["error"]["code"]) == (409, "not_holder")
    status, body = await buyer.call("POST", f"/api/showtimes/{showtime}/bookings")
    assert (status, body["error"]["code"]) == (400, "bad_request")  # no Idempotency-Key


async def test_sales_closed_before_the_start(buyer: Buyer, ws: Any, showtime: int,
                                             seats: list[str], db_pool: asyncpg.Pool) -> None:
    await (await ws(buyer)).hold(showtime, seats[:1])
    async with db_pool.acquire() as conn:
        starts_at = await conn.fetchval(
            "UPDATE showtimes SET starts_at = now() + interval '9 minutes' WHERE id = $1 "
            "RETURNING (SELECT starts_at FROM showtimes WHERE id = $1)", showtime)
        try:
            status, body = await buyer.checkout(showtime, "k")
        finally:
            await conn.execute("UPDATE showtimes SET starts_at = $2 WHERE id = $1",
                               showtime, starts_at)
    assert (status, body["error"]["code"]) == (409, "sales_closed")


async def test_same_idempotency_key_replays_and_different_body_is_refused(
        buyer: Buyer, ws: Any, showtime: int, seats: list[str]) -> None:
    await (await ws(buyer)).hold(showtime, seats[:2])
    first = await buyer.checkout(showtime, "same", seats[:2])
    again = await buyer.checkout(showtime, "same", seats[:2])
    assert first[0] == 201 and again == first
    status, body = await buyer.checkout(showtime, "same", seats[:1])
    assert (status, body["error"]["code"]) == (422, "idempotency_mismatch")


async def test_concurrent_replays_of_one_key_create_one_booking(
        buyer: Buyer, ws: Any, showtime: int, seats: list[str],
        db_pool: asyncpg.Pool) -> None:
    await (await ws(buyer)).hold(showtime, seats[:2])
    results = await asyncio.gather(*(buyer.checkout(showtime, "race") for _ in range(10)))
    statuses = sorted(status for status, _ in results)
    assert set(statuses) <= {201, 409} and 201 in statuses
    assert all(body["error"]["code"] == "request_in_flight"
               for status, body in results if status == 409)
    assert len({body["reference"] for status, body in results if status == 201}) == 1
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM bookings") == 1


async def test_flushed_redis_cannot_sell_a_seat_twice(
        buyer: Buyer, buyer_at: BuyerFactory, base_url: str, ws: Any, showtime: int,
        seats: list[str], redis_url: str) -> None:
    await (await ws(buyer)).hold(showtime, seats[:2])
    assert (await buyer.checkout(showtime, "k"))[0] == 201
    with redis.Redis.from_url(redis_url) as r:
        r.flushdb()
    rival = await buyer_at(base_url)
    assert (await (await ws(rival)).hold(showtime, seats[1:3]))["ok"] is True
    status, body = await rival.checkout(showtime, "k")
    assert (status, body["error"]["code"]) == (409, "seats_unavailable")
    assert body["error"]["seats"] == [seats[1]]


async def test_checkout_refused_by_the_index_gives_back_holds_and_drops_sold_seats(
        buyer: Buyer, buyer_at: BuyerFactory, base_url: str, ws: Any, showtime: int,
        seats: list[str], redis_url: str) -> None:
    await (await ws(buyer)).hold(showtime, seats[:2])
    assert (await buyer.checkout(showtime, "k"))[0] == 201
    with redis.Redis.from_url(redis_url) as r:
        r.flushdb()  # Redis forgets the pending booking's seats
    rival = await buyer_at(base_url)
    held = await (await ws(rival)).hold(showtime, seats[1:3])
    status, body = await rival.checkout(showtime, "k")
    assert (status, body["error"]["seats"]) == (409, [seats[1]])
    # The seat sold elsewhere leaves the rival's basket; the other keeps its own
    # deadline rather than the payment window of a checkout that never happened.
    watcher = await ws(rival)
    await watcher.subscribe(showtime)
    mine = watcher.views[showtime].mine
    assert list(mine) == [seats[2]]
    assert abs(mine[seats[2]] - held["expires_at"]) < 100
    assert seats[1] not in watcher.views[showtime].held


async def test_overlapping_checkouts_from_split_redis_views_sell_each_seat_once(
        make_server: Any, buyer_at: BuyerFactory, http: aiohttp.ClientSession,
        showtime: int, seats: list[str], redis_url: str, db_pool: asyncpg.Pool) -> None:
    # Three servers on three Redis databases: each thinks its buyers hold the
    # seats, so 50 checkouts contend for the same seats and only PostgreSQL's
    # unique index stands between them and a double sale.
    from tests.bookings.conftest import other_db
    views = []
    for offset in (0, 1, 2):
        url = other_db(redis_url, offset)
        with redis.Redis.from_url(url) as r:
            r.flushdb()
        server = await make_server(redis_url=url, max_seats=10)
        views.append(str(server.make_url("/")).rstrip("/"))
    pool = seats[:34]
    buyers: list[Buyer] = []
    for i in range(50):
        view, j = i % 3, i // 3
        buyer = await buyer_at(views[view])
        wanted = [pool[(2 * j + view) % 34], pool[(2 * j + 1 + view) % 34]]
        client = await SeatClient(http, buyer.base, buyer.token).connect()
        assert (await client.hold(showtime, wanted))["ok"] is True
        await client.close()
        buyers.append(buyer)
    results = await asyncio.gather(*(b.checkout(showtime, "k") for b in buyers))
    codes = [body["error"]["code"] if status != 201 else "ok" for status, body in results]
    assert set(codes) <= {"ok", "seats_unavailable"}, codes
    assert "ok" in codes and "seats_unavailable" in codes
    async with db_pool.acquire() as conn:
        doubled = await conn.fetchval(
            """SELECT count(*) FROM (SELECT seat_id FROM booking_seats s
               JOIN bookings b ON b.id = s.booking_id
               WHERE b.status IN ('pending', 'booked') GROUP BY seat_id
               HAVING count(*) > 1) d""")
    assert doubled == 0
