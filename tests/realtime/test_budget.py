"""The fan-out budget: each room's update window, so that a process never
sends more room updates per second than its budget; and the change feed
keeping to those windows without losing or reordering an update."""

from __future__ import annotations

import asyncio

import pytest

from seatserver.holds.setup import ENGINE
from seatserver.realtime.budget import (
    BUSY_HIGH,
    CEILING_S,
    FLOOR_S,
    MAX_STRETCH,
    RECOMPUTE_S,
    FanoutBudget,
    water_fill,
)
from seatserver.realtime.setup import ROOMS
from tests.realtime.conftest import ClientFactory, ServerFactory
from tests.support import eventually


@pytest.mark.parametrize(("sizes", "per_s", "windows"), [
    # One small room: the floor, whatever the budget.
    ({1: 10}, 20_000, {1: FLOOR_S}),
    # A room of 1,000 on 20,000 frames/s: 20 updates/s.
    ({1: 1000}, 20_000, {1: 0.05}),
    # 10,000 in one room: 2 updates/s.
    ({1: 10_000}, 20_000, {1: 0.5}),
    # Small rooms keep the floor; the big one gets what is left:
    # 2 x 50 subscribers x 50/s = 5,000; 15,000 left for 3,000 -> 5/s.
    ({1: 50, 2: 50, 3: 3000}, 20_000, {1: FLOOR_S, 2: FLOOR_S, 3: 0.2}),
    # Two big rooms share equally.
    ({1: 4000, 2: 4000}, 20_000, {1: 0.4, 2: 0.4}),
    # Nothing left: the ceiling.
    ({1: 0}, 0, {1: CEILING_S}),
])
def test_water_fill_gives_small_rooms_the_floor_and_shares_the_rest(
        sizes: dict[int, int], per_s: float, windows: dict[int, float]) -> None:
    got = water_fill(sizes, per_s)
    assert got == pytest.approx(windows)
    if per_s:
        assert sum(n / got[s] for s, n in sizes.items()) <= per_s * (1 + 1e-9)


def test_windows_stretch_while_fan_out_keeps_the_loop_busy_and_shrink_after() -> None:
    now = [100.0]
    budget = FanoutBudget(20_000, clock=lambda: now[0])
    budget.delivered(1, 1000, 0.0)
    assert budget.window(1) == pytest.approx(0.05)
    # Fan-out takes more than BUSY_HIGH of each interval: windows grow.
    for _ in range(30):
        budget.delivered(1, 1000, RECOMPUTE_S * (BUSY_HIGH + 0.2))
        now[0] += RECOMPUTE_S
        budget.window(1)
    assert budget.stretch == MAX_STRETCH
    assert budget.window(1) == pytest.approx(0.05 * MAX_STRETCH)
    # Load gone (the room still busy, its fan-outs quick): back to the share.
    for _ in range(30):
        budget.delivered(1, 1000, 0.0)
        now[0] += RECOMPUTE_S
        budget.window(1)
    assert budget.stretch == 1.0
    assert budget.window(1) == pytest.approx(0.05)


def test_a_room_quiet_for_a_second_no_longer_takes_a_share() -> None:
    now = [100.0]
    budget = FanoutBudget(20_000, clock=lambda: now[0])
    budget.delivered(1, 9000, 0.0)
    budget.delivered(2, 1000, 0.0)
    assert budget.window(2) == pytest.approx(0.1)  # 10,000 share 20,000 equally
    now[0] += 1.5
    budget.delivered(2, 1000, 0.0)
    now[0] += RECOMPUTE_S
    assert budget.window(2) == pytest.approx(0.05)  # alone now


async def test_a_busy_room_gets_no_more_updates_than_its_window_and_loses_none(
        make_server: ServerFactory, connect: ClientFactory, showtime: int,
        seats: list[str]) -> None:
    # The least budget: 1,000 frames/s for a room of 20 is 50 updates/s;
    # a stretched window (the loop busy) would only make it fewer.
    server = await make_server(fanout_budget=1000, rate_per_s=100_000.0,
                               rate_burst=100_000)
    url = str(server.make_url("/")).rstrip("/")
    watchers = list(await asyncio.gather(*(connect(url) for _ in range(20))))
    for watcher in watchers:
        await watcher.subscribe(showtime)
    clickers = list(await asyncio.gather(*(connect(url) for _ in range(10))))
    changes = 0
    loop = asyncio.get_running_loop()
    began = loop.time()

    async def click(i: int) -> None:
        nonlocal changes
        mine = seats[i * 2:(i + 1) * 2]
        while loop.time() - began < 2.0:
            for seat in mine:
                assert (await clickers[i].hold(showtime, [seat]))["ok"]
                assert (await clickers[i].release(showtime, [seat]))["ok"]
                changes += 2

    await asyncio.gather(*(click(i) for i in range(len(clickers))))
    took = loop.time() - began
    final = await server.app[ENGINE].snapshot(showtime)
    await eventually(lambda: all(w.views[showtime].offset == final.offset for w in watchers))
    assert [w.violations for w in watchers if w.violations] == []
    assert all(w.views[showtime].held == set(final.held) for w in watchers)
    window = server.app[ROOMS].budget.window(showtime)
    assert window >= 20 / 1000
    most = took / (20 / 1000) + 2  # reads, each at least a window apart
    updates = [w.views[showtime].updates for w in watchers]
    assert changes > 4 * most, (changes, most)  # many changes per update: coalesced
    assert max(updates) <= most, (updates, most, changes)


async def test_a_change_in_a_quiet_room_goes_out_at_once_and_a_busy_one_waits_its_window(
        make_server: ServerFactory, connect: ClientFactory, showtime: int,
        seats: list[str]) -> None:
    server = await make_server()
    # Every window 2 s: long enough to tell "at once" from "after the window".
    server.app[ROOMS].budget = FanoutBudget(1000, floor_s=2.0, ceiling_s=2.0)
    url = str(server.make_url("/")).rstrip("/")
    watcher, buyer = await connect(url), await connect(url)
    await watcher.subscribe(showtime)
    view = watcher.views[showtime]
    loop = asyncio.get_running_loop()

    async def hold_and_time(seat: str) -> float:
        sent = loop.time()
        assert (await buyer.hold(showtime, [seat]))["ok"]
        await eventually(lambda: seat in view.held, within=5, interval=0.005)
        return loop.time() - sent

    assert await hold_and_time(seats[0]) < 1.0  # the room was quiet
    assert await hold_and_time(seats[1]) > 1.0  # read again only after its window
    await asyncio.sleep(2.2)
    assert await hold_and_time(seats[2]) < 1.0  # quiet again
