"""Checkout and payment through the wire: HTTP API, provider page, WebSocket rooms."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import asyncpg
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from seatserver.accounts.sessions import token_hash
from seatserver.bookings.idempotency import request_hash
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
        seats: list[str], db_pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "seatserver.bookings.checkout")
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
    # The webhook of the same capture arrives too: one fact, so nothing doubles.
    await eventually(lambda: any("duplicate" in r.getMessage() and "captured" in r.getMessage()
                                 for r in caplog.records))
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM payment_events") == 1
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
    status, body = await buyer.checkout(showtime, "b", seats[:1])  # never held
    assert (status, body["error"]["code"], body["error"]["seats"]) == (
        409, "not_holder", seats[:1])
    await (await ws(buyer)).hold(showtime, seats[:1])
    status, body = await buyer.checkout(showtime, "c", seats[1:2])
    assert (status, body["error"]["code"]) == (409, "not_holder")
    status, body = await buyer.call("POST", f"/api/showtimes/{showtime}/bookings")
    assert (status, body["error"]["code"]) == (400, "bad_request")  # no Idempotency-Key
    status, body = await buyer.checkout(showtime, "d", [])
    assert (status, body["error"]["code"]) == (422, "nothing_to_book")


async def test_a_checkout_refusal_names_the_seats_and_its_replay_too(
        buyer: Buyer, showtime: int, seats: list[str]) -> None:
    first: Any = await buyer.checkout(showtime, "refused", seats[:2])  # never held
    again: Any = await buyer.checkout(showtime, "refused", seats[:2])

    assert (first[0], first[1]["error"]["code"], first[1]["error"]["seats"]) == (
        409, "not_holder", seats[:2])
    assert again == first


async def test_checkout_after_the_holds_expired_says_so_and_names_the_seats(
        make_server: Any, buyer_at: BuyerFactory, showtime: int, seats: list[str]) -> None:
    server = await make_server(hold_ttl_s=1)
    buyer = await buyer_at(str(server.make_url("/")).rstrip("/"))
    client = await SeatClient(buyer.http, buyer.base, buyer.token).connect()
    try:
        assert (await client.hold(showtime, seats[:2]))["ok"] is True
        await client.subscribe(showtime)
        await eventually(lambda: not client.views[showtime].held, within=10)

        status, body = await buyer.checkout(showtime, "all")
        assert (status, body["error"]["code"], body["error"]["seats"]) == (
            409, "hold_expired", seats[:2])
        # Named seats: the expired one is named; one never held is not_holder.
        assert (await client.hold(showtime, seats[2:3]))["ok"] is True
        status, body = await buyer.checkout(showtime, "named", [seats[0], seats[2]])
        assert (status, body["error"]["code"], body["error"]["seats"]) == (
            409, "hold_expired", [seats[0]])
        status, body = await buyer.checkout(showtime, "other", [seats[3], seats[2]])
        assert (status, body["error"]["code"]) == (409, "not_holder")
        # Held again and let go on purpose: no longer "expired", just nothing held.
        assert (await client.hold(showtime, seats[:2]))["ok"] is True
        await client.release(showtime, [*seats[:3]])
        status, body = await buyer.checkout(showtime, "none")
        assert (status, body["error"]["code"]) == (422, "nothing_to_book")
    finally:
        await client.close()


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


async def test_checking_out_again_starts_a_new_payment_and_keeps_the_seats(
        buyer: Buyer, buyer_at: BuyerFactory, base_url: str, ws: Any, showtime: int,
        seats: list[str], db_pool: asyncpg.Pool) -> None:
    watcher = await ws(await buyer_at(base_url))
    watcher.keep_frames = True
    await watcher.subscribe(showtime)
    await (await ws(buyer)).hold(showtime, seats[:2])
    status, first = await buyer.checkout(showtime, "first")
    assert status == 201
    # Back from the provider's page, the buyer selects Checkout again.
    status, second = await buyer.checkout(showtime, "second")
    assert status == 201 and second["reference"] != first["reference"]
    assert sorted(s["id"] for s in second["seats"]) == sorted(seats[:2])
    assert (await buyer.booking(first["reference"]))["status"] == "expired"
    await eventually(lambda: len(watcher.frames) >= 3)
    reasons = {r for f in watcher.frames for r in f.get("reasons", {}).values()}
    assert reasons == {"hold"}  # never released, never shown free
    # The old order paid after all: the seats are the new booking's, so it is refunded.
    landed = await buyer.pay(first["checkout_url"], "pay")
    assert landed == f"/showtimes/{showtime}?booking={first['reference']}"
    late = await buyer.booking(first["reference"])
    assert (late["status"], late["attention"]) == ("expired", "late_payment_refunded")
    await buyer.pay(second["checkout_url"], "pay")
    assert (await buyer.booking(second["reference"]))["status"] == "booked"
    async with db_pool.acquire() as conn:
        reason = await conn.fetchval(
            "SELECT detail->>'reason' FROM audit_log a JOIN bookings b ON b.id = a.booking_id "
            "WHERE b.reference = $1 AND action = 'booking.expired'", first["reference"])
    assert reason == "superseded"


async def test_idempotency_key_is_kept_for_24_hours_then_forgotten(
        buyer: Buyer, ws: Any, showtime: int, seats: list[str],
        db_pool: asyncpg.Pool) -> None:
    await (await ws(buyer)).hold(showtime, seats[:1])
    status, first = await buyer.checkout(showtime, "day")
    assert status == 201
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE idempotency_keys SET created_at = now() - "
                           "interval '23 hours 59 minutes'")
    async with buyer.http.post(f"{buyer.base}/api/showtimes/{showtime}/bookings",
                               json={"email": "buyer@example.com"},
                               headers={**buyer.auth, "Idempotency-Key": "day"}) as resp:
        assert resp.status == 201 and resp.headers["Idempotent-Replayed"] == "true"
        assert (await resp.json())["reference"] == first["reference"]
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE idempotency_keys SET created_at = now() - "
                           "interval '24 hours 1 minute'")
    status, later = await buyer.checkout(showtime, "day", seats[:1])  # another body: no clash
    assert status == 201 and later["reference"] != first["reference"]


async def test_key_left_in_flight_by_a_dead_request_is_taken_over_after_its_lease(
        buyer: Buyer, ws: Any, showtime: int, seats: list[str],
        db_pool: asyncpg.Pool) -> None:
    await (await ws(buyer)).hold(showtime, seats[:1])
    async with db_pool.acquire() as conn:
        user_id = await conn.fetchval("SELECT user_id FROM sessions WHERE token_hash = $1",
                                      token_hash(buyer.token))
        # Claims as a request for all one's holds (with the helper's address)
        # leaves them, never finished.
        claim = request_hash(str(showtime).encode(), b'[null,"buyer@example.com",null]')
        await conn.execute(
            "INSERT INTO idempotency_keys (user_id, key, request_hash, created_at) "
            "VALUES ($1, 'fresh', $2, now()), ($1, 'stale', $2, "
            "now() - interval '3 minutes')", user_id, claim)
    status, body = await buyer.checkout(showtime, "fresh")
    assert (status, body["error"]["code"]) == (409, "request_in_flight")
    status, body = await buyer.checkout(showtime, "stale")
    assert status == 201, body


async def test_history_lists_orders_with_their_show_and_tickets(
        buyer: Buyer, ws: Any, showtime: int, seats: list[str]) -> None:
    client = await ws(buyer)
    await client.hold(showtime, seats[:1])
    _, paid = await buyer.checkout(showtime, "one")
    await buyer.pay(paid["checkout_url"], "pay")
    await client.hold(showtime, seats[1:2])
    _, waiting = await buyer.checkout(showtime, "two")
    status, history = await buyer.call("GET", "/api/bookings")
    assert status == 200
    assert [(b["reference"], b["status"]) for b in history] == [
        (waiting["reference"], "pending"), (paid["reference"], "booked")]
    newest, oldest = history
    assert oldest["ticket"].startswith(paid["reference"] + ".")
    assert oldest["ticket_qr"]["svg"].endswith("/ticket.svg")
    assert newest["ticket"] is None and newest["ticket_qr"] is None
    for entry in history:
        assert entry["show"]["movie"] and entry["show"]["theater"]
        assert entry["show"]["time_zone"] and entry["payment"]["status"]
        assert entry["total"]["currency"] == "EUR"


async def test_receipt_names_the_film_the_seats_and_the_money_in_the_apps_style(
        buyer: Buyer, ws: Any, showtime: int, seats: list[str], base_url: str) -> None:
    await (await ws(buyer)).hold(showtime, seats[:2])
    _, booking = await buyer.checkout(showtime, "k")
    await buyer.pay(booking["checkout_url"], "pay")
    async with buyer.http.get(f"{base_url}/api/showtimes/{showtime}") as resp:
        show = await resp.json()
    async with buyer.http.get(f"{base_url}/bookings/{booking['reference']}",
                              headers=buyer.auth) as resp:
        assert resp.status == 200
        assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
        page = await resp.text()
    assert show["movie"]["title"] in page
    assert "/shared/base.css" in page and "/receipt/receipt.css" in page
    by_id = {s["id"]: s for s in show["seats"]}
    for seat in seats[:2]:
        assert f"Row {by_id[seat]['row']}, seat {by_id[seat]['number']}" in page
    total = booking["total"]["amount"]
    assert f"€{total // 100}.{total % 100:02d}" in page
    assert f'datetime="{show["starts_at"]}"' in page  # the theater's own offset
    assert "<h1>You're booked</h1>" in page and "<svg" in page


async def test_keys_older_than_a_day_are_purged_by_the_housekeeping_job(
        buyer: Buyer, ws: Any, showtime: int, seats: list[str],
        db_pool: asyncpg.Pool) -> None:
    await (await ws(buyer)).hold(showtime, seats[:1])
    assert (await buyer.checkout(showtime, "old"))[0] == 201
    assert (await buyer.checkout(showtime, "young", seats[:1]))[0] == 201
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE idempotency_keys SET created_at = now() - "
                           "interval '25 hours' WHERE key = 'old'")
        for _ in range(200):  # the server sweeps every 0.2 s here
            keys = await conn.fetch("SELECT key FROM idempotency_keys")
            if len(keys) == 1:
                break
            await asyncio.sleep(0.02)
    assert [k["key"] for k in keys] == ["young"]


async def test_metrics_time_checkouts_by_outcome(
        buyer: Buyer, base_url: str, ws: Any, showtime: int, seats: list[str]) -> None:
    async def counts() -> dict[str, float]:
        async with buyer.http.get(base_url + "/metrics") as resp:
            text = await resp.text()
        return {s.labels["outcome"]: s.value for f in text_string_to_metric_families(text)
                if f.name == "seatserver_checkout_seconds" for s in f.samples
                if s.name.endswith("_count")}

    before = await counts()
    client = await ws(buyer)
    assert (await client.hold(showtime, seats[:1]))["ok"] is True
    assert (await buyer.checkout(showtime, "m1"))[0] == 201
    assert (await buyer.checkout(showtime, "m1"))[0] == 201  # the same key: replayed
    assert (await buyer.checkout(showtime, "m2", seats[5:6]))[0] == 409  # not held
    after = await counts()
    grew = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
    assert grew == {"created": 1, "replayed": 1, "not_holder": 1}, after
