"""Joining while holds flow: nothing lost or doubled between snapshot and live feed."""

from __future__ import annotations

import asyncio
import random

from seatserver.holds.setup import ENGINE
from seatserver.loadgen.client import SeatClient
from tests.realtime.conftest import ClientFactory, ServerFactory
from tests.support import eventually

JOINS = 300


async def test_subscribing_during_a_storm_of_holds_loses_and_doubles_nothing(
        make_server: ServerFactory, connect: ClientFactory, showtime: int,
        seats: list[str]) -> None:
    # Clickers far faster than people: the rate limit must not thin the storm.
    server = await make_server(rate_per_s=100_000.0, rate_burst=100_000)
    url = str(server.make_url("/")).rstrip("/")
    clickers = list(await asyncio.gather(*(connect(url) for _ in range(20))))
    changes = 0
    stop = asyncio.Event()

    async def click(i: int, client: SeatClient) -> None:
        nonlocal changes
        rng = random.Random(i)
        mine: list[str] = []
        while not stop.is_set():
            if len(mine) >= 4 or (mine and rng.random() < 0.4):
                seat = mine.pop(rng.randrange(len(mine)))
                await client.release(showtime, [seat])
                changes += 1
            else:
                seat = rng.choice(seats)
                if (await client.hold(showtime, [seat]))["ok"]:
                    changes += 1
                    if seat not in mine:
                        mine.append(seat)

    storm = [asyncio.create_task(click(i, c)) for i, c in enumerate(clickers)]
    joiners: list[SeatClient] = []

    async def join(i: int) -> None:
        await asyncio.sleep(random.Random(i).random() * 2.0)
        client = await connect(url)
        joiners.append(client)
        await client.subscribe(showtime)

    await asyncio.gather(*(join(i) for i in range(JOINS)))
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.gather(*storm)

    final = await server.app[ENGINE].snapshot(showtime)
    truth, last = set(final.held), final.offset
    await eventually(lambda: all(j.views[showtime].offset == last for j in joiners), within=10)
    assert [j.violations for j in joiners if j.violations] == []  # nothing doubled
    wrong = [j for j in joiners if j.views[showtime].held != truth]
    assert wrong == []  # nothing lost
    assert changes > 300  # a storm indeed: hundreds of changes while they joined
    assert sum(j.views[showtime].updates for j in joiners) > JOINS  # they did see live updates
