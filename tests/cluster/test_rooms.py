"""Rooms on a Redis Cluster: holds, updates, resume, expiry and sales across masters."""

from __future__ import annotations

import time

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from seatserver.loadgen.client import SeatClient, new_session
from seatserver.realtime.setup import FEED
from tests.bookings.conftest import Buyer
from tests.cluster.conftest import FIRST_ID, Spread, add_showtimes, slot_of
from tests.realtime.conftest import ClientFactory, ServerFactory
from tests.support import eventually, our_warnings


async def test_rooms_on_two_masters_and_two_slots_of_one_each_see_their_updates(
        server: TestServer, connect: ClientFactory, spread: Spread, seats: list[str],
        http: aiohttp.ClientSession, base_url: str, caplog: pytest.LogCaptureFixture) -> None:
    watcher, buyer = await connect(), await connect()
    for showtime in spread.all:
        await watcher.subscribe(showtime)
    # One blocking reader per followed slot: one XREAD over a and b, although
    # both live on one master, would be refused (CROSSSLOT).
    assert server.app[FEED].readers == 3

    for seat, showtime in zip(seats, spread.all, strict=False):
        assert (await buyer.hold(showtime, [seat]))["ok"] is True
    for seat, showtime in zip(seats, spread.all, strict=False):
        await eventually(lambda s=showtime, seat=seat: watcher.views[s].held == {seat})
    assert (await buyer.release(spread.b, seats[1:2]))["ok"] is True
    await eventually(lambda: not watcher.views[spread.b].held)

    assert watcher.views[spread.a].held == {seats[0]}
    assert watcher.views[spread.c].held == {seats[2]}
    assert watcher.views[spread.a].updates == 1 and watcher.views[spread.b].updates == 2
    assert watcher.violations == []
    # Listings count free seats from every master (one snapshot per showtime).
    async with http.get(f"{base_url}/api/showtimes") as resp:
        listed = {s["id"]: s["free"] for s in await resp.json()}
    assert [sum(listed[s].values()) for s in spread.all] == [211, 212, 211]
    assert not our_warnings(caplog.records)


async def test_a_slots_reader_stops_with_its_last_room_and_comes_back_with_the_next(
        server: TestServer, connect: ClientFactory, spread: Spread, seats: list[str]) -> None:
    feed = server.app[FEED]
    watcher, buyer = await connect(), await connect()
    await watcher.subscribe(spread.a)
    await watcher.subscribe(spread.c)
    assert feed.readers == 2

    await watcher.request("unsubscribe", showtime=spread.a)
    await eventually(lambda: feed.readers == 1)
    await buyer.hold(spread.a, seats[:1])  # nobody here follows a now

    await watcher.subscribe(spread.a)
    assert feed.readers == 2
    assert watcher.views[spread.a].held == {seats[0]}  # from the snapshot
    await buyer.hold(spread.a, seats[1:2])
    await buyer.hold(spread.c, seats[1:2])
    await eventually(lambda: watcher.views[spread.a].held == set(seats[:2]))
    await eventually(lambda: watcher.views[spread.c].held == {seats[1]})
    assert watcher.violations == []


async def test_resume_with_since_replays_the_missed_updates_on_a_cluster(
        connect: ClientFactory, spread: Spread, seats: list[str]) -> None:
    buyer, first = await connect(), await connect()
    for showtime in (spread.a, spread.c):
        await first.subscribe(showtime)
        await buyer.hold(showtime, seats[:1])
    await eventually(lambda: all(first.views[s].held == {seats[0]}
                                 for s in (spread.a, spread.c)))
    offsets = {s: first.views[s].offset for s in (spread.a, spread.c)}
    await first.close()

    for showtime in (spread.a, spread.c):
        await buyer.hold(showtime, seats[1:2])
        await buyer.release(showtime, seats[:1])
    again = await connect()
    again.keep_frames = True
    for showtime, offset in offsets.items():
        assert (await again.subscribe(showtime, since=offset))["resumed"] is True
    updates = [f for f in again.frames if f["t"] == "update"]
    assert [f["showtime"] for f in updates] == [spread.a, spread.c]
    assert all(f["seats"] == {seats[1]: "held", seats[0]: "free"} for f in updates)
    assert not [f for f in again.frames if f["t"] == "snapshot"]


async def test_expiry_is_broadcast_in_rooms_on_two_masters(
        make_server: ServerFactory, connect: ClientFactory, spread: Spread,
        seats: list[str]) -> None:
    short = await make_server(hold_ttl_s=1)
    url = str(short.make_url("/")).rstrip("/")
    watcher, buyer = await connect(url), await connect(url)
    watcher.keep_frames = True
    for showtime in (spread.a, spread.c):
        await watcher.subscribe(showtime)
    deadline_ms = max([(await buyer.hold(s, seats[:2]))["expires_at"]
                       for s in (spread.a, spread.c)])
    await eventually(lambda: all(watcher.views[s].held == set(seats[:2])
                                 for s in (spread.a, spread.c)))

    await eventually(lambda: not any(watcher.views[s].held for s in (spread.a, spread.c)),
                     within=3)
    late_ms = time.time() * 1000 - deadline_ms
    assert late_ms < 500, f"expiry seen {late_ms:.0f} ms late"
    expired = [f for f in watcher.frames if f["t"] == "update"
               and set(f["reasons"].values()) == {"expire"}]
    assert sorted(f["showtime"] for f in expired) == sorted((spread.a, spread.c))


async def test_a_paid_booking_is_broadcast_as_booked_on_a_cluster(
        http: aiohttp.ClientSession, base_url: str, connect: ClientFactory, spread: Spread,
        seats: list[str]) -> None:
    watcher = await connect()
    watcher.keep_frames = True
    await watcher.subscribe(spread.c)
    token = await new_session(http, base_url)
    buyer = Buyer(http, base_url, token)
    async with SeatClient(http, base_url, token) as client:
        assert (await client.hold(spread.c, seats[:2]))["ok"] is True

    status, booking = await buyer.checkout(spread.c, f"cluster-{time.time_ns()}")
    assert status == 201, booking
    await buyer.pay(booking["checkout_url"], "pay")

    assert (await buyer.booking(booking["reference"]))["status"] == "booked"
    await eventually(lambda: watcher.views[spread.c].booked == set(seats[:2]))
    assert set(watcher.frames[-1]["reasons"].values()) == {"book"}
    assert watcher.violations == []


async def test_showtimes_sharing_a_slot_share_one_reader(
        server: TestServer, connect: ClientFactory, db_pool: asyncpg.Pool, demo: list[int],
        seats: list[str]) -> None:
    first = FIRST_ID + 500
    second = next(s for s in range(first + 1, first + 200_000) if slot_of(s) == slot_of(first))
    await add_showtimes(db_pool, (first, second), demo[0])
    feed = server.app[FEED]
    watcher, buyer = await connect(), await connect()
    await watcher.subscribe(first)
    await watcher.subscribe(second)  # joins the reader blocked on the first's slot
    assert feed.readers == 1

    await buyer.hold(second, seats[:1])
    await buyer.hold(first, seats[1:2])

    await eventually(lambda: watcher.views[second].held == {seats[0]})
    await eventually(lambda: watcher.views[first].held == {seats[1]})
    assert watcher.violations == []
