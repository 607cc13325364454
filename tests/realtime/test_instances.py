"""Two server processes on one Redis: a hold made on one appears on the other."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from redis.asyncio import Redis

from seatserver.holds import HoldEngine
from seatserver.loadgen.client import SeatClient, new_session
from tests.processes import ServerProcess
from tests.realtime.test_race import CLIENTS, SEATS, audit, race
from tests.support import eventually


@pytest.fixture
async def two_servers(redis_url: str, database_url: str, demo: list[int]
                      ) -> AsyncIterator[list[ServerProcess]]:
    env = {"REDIS_URL": redis_url, "DATABASE_URL": database_url}
    servers = [ServerProcess(env), ServerProcess(env)]
    try:
        await asyncio.gather(*(s.start() for s in servers))
        yield servers
    finally:
        for s in servers:
            s.stop()


async def test_two_processes_share_holds_and_every_view_agrees(
        two_servers: list[ServerProcess], http: aiohttp.ClientSession, redis_url: str,
        demo: list[int]) -> None:
    showtime = demo[0]
    one, two = (s.url for s in two_servers)
    async with http.get(f"{one}/api/showtimes/{showtime}") as resp:
        seats = [s["id"] for s in (await resp.json())["seats"]]

    async def connect(url: str) -> SeatClient:
        return await SeatClient(http, url, await new_session(http, url)).connect()

    clients = list(await asyncio.gather(*(connect(one) for _ in range(CLIENTS // 2)),
                                        *(connect(two) for _ in range(CLIENTS // 2))))
    try:
        await asyncio.gather(*(c.subscribe(showtime) for c in clients))
        first, last = clients[0], clients[-1]
        assert (await first.hold(showtime, [seats[50]]))["ok"]
        await eventually(lambda: seats[50] in last.views[showtime].held, within=2)
        assert (await first.release(showtime, [seats[50]]))["ok"]
        await eventually(lambda: seats[50] not in last.views[showtime].held, within=2)

        won = await race(clients, showtime, seats[:SEATS])
        redis = Redis.from_url(redis_url)
        engine = HoldEngine(redis, hold_ttl_ms=1, max_seats=1, stream_maxlen=1000,
                            backstop_ms=1)
        truth = set((await engine.snapshot(showtime)).held)
        await engine.close()
        await redis.aclose()
        await audit(clients, showtime, truth, won)
    finally:
        await asyncio.gather(*(c.close() for c in clients))
