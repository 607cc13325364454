"""Redis mirrors PostgreSQL's sales: after Redis loses its data, no booked seat
and no seat of a pending booking ever shows as free for long."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import redis

from seatserver.loadgen.client import SeatClient
from tests.bookings.conftest import Buyer
from tests.support import eventually

BuyerFactory = Callable[..., Awaitable[Buyer]]


async def _pending(buyer: Buyer, showtime: int, wanted: list[str]) -> Any:
    async with SeatClient(buyer.http, buyer.base, buyer.token) as client:
        assert (await client.hold(showtime, wanted))["ok"] is True
    status, booking = await buyer.checkout(showtime, secrets.token_hex(4))
    assert status == 201, booking
    return booking


async def test_pending_booking_keeps_its_seats_through_a_flush_and_a_restart(
        buyer_at: BuyerFactory, base_url: str, make_server: Any, showtime: int,
        seats: list[str], redis_url: str) -> None:
    buyer = await buyer_at(base_url)
    booking = await _pending(buyer, showtime, seats[:2])
    with redis.Redis.from_url(redis_url) as r:
        r.flushdb()

    fresh = await make_server()  # start-up reconciles
    url = str(fresh.make_url("/")).rstrip("/")
    rival = await buyer_at(url)
    async with SeatClient(rival.http, rival.base, rival.token) as client:
        await client.subscribe(showtime)
        assert set(seats[:2]) <= client.views[showtime].held  # taken, not free
        refused = await client.hold(showtime, seats[1:2])
        assert (refused["ok"], refused["code"]) == (False, "seats_unavailable")
    # Still the buyer's, until the payment deadline, and payable.
    back = Buyer(rival.http, url, buyer.token)
    async with SeatClient(back.http, back.base, back.token) as client:
        await client.subscribe(showtime)
        mine = client.views[showtime].mine
    assert set(mine) == set(seats[:2])
    deadline = (await back.booking(booking["reference"]))["hold_deadline"]
    assert all(abs(due / 1000 - _epoch(deadline)) < 0.01 for due in mine.values())
    await buyer.pay(booking["checkout_url"], "pay")
    assert (await back.booking(booking["reference"]))["status"] == "booked"


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


async def test_running_server_rebuilds_the_mirror_when_redis_loses_it(
        buyer_at: BuyerFactory, make_server: Any, showtime: int, seats: list[str],
        redis_url: str) -> None:
    server = await make_server(mirror_check_s=0.1)
    url = str(server.make_url("/")).rstrip("/")
    buyer, payer = await buyer_at(url), await buyer_at(url)
    await _pending(buyer, showtime, seats[:2])
    paid = await _pending(payer, showtime, seats[2:4])
    await payer.pay(paid["checkout_url"], "pay")
    with redis.Redis.from_url(redis_url) as r:
        r.flushdb()  # as a Redis restarted without persistence would be

    watcher = await buyer_at(url)
    async with SeatClient(watcher.http, watcher.base, watcher.token) as client:
        await client.subscribe(showtime)
        view = client.views[showtime]
        await eventually(lambda: view.booked == set(seats[2:4])
                         and set(seats[:2]) <= view.held, within=10)
        refused = await client.hold(showtime, [seats[0], seats[3]])
        assert (refused["ok"], refused["code"], sorted(refused["seats"])) == (
            False, "seats_unavailable", sorted([seats[0], seats[3]]))
