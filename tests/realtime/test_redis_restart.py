"""Redis restarted under a running server: `unavailable` meanwhile, then it recovers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aiohttp
import pytest

from seatserver.loadgen.client import SeatClient
from tests.processes import PrivateRedis
from tests.realtime.conftest import ClientFactory, ServerFactory
from tests.support import eventually


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    redis = PrivateRedis()
    redis.start()
    yield redis
    redis.stop()


async def test_redis_restart_answers_unavailable_then_recovers(
        make_server: ServerFactory, connect: ClientFactory, private_redis: PrivateRedis,
        showtime: int, seats: list[str]) -> None:
    server = await make_server(redis_url=private_redis.url)
    url = str(server.make_url("/")).rstrip("/")
    watcher, buyer = await connect(url), await connect(url)
    await watcher.subscribe(showtime)
    assert (await buyer.hold(showtime, seats[:1]))["ok"]
    await eventually(lambda: watcher.views[showtime].held == {seats[0]})

    private_redis.stop()
    refused = await buyer.hold(showtime, seats[1:2])
    assert refused["ok"] is False and refused["code"] == "unavailable"
    assert (await buyer.request("ping"))["t"] == "pong"  # the server keeps running
    async with aiohttp.ClientSession() as http, http.get(url + "/readyz") as resp:
        assert resp.status == 503

    private_redis.start()  # empty: this Redis keeps nothing across restarts

    async def hold_again(client: SeatClient) -> bool:
        return bool((await client.hold(showtime, seats[2:3]))["ok"])

    for _ in range(100):
        if await hold_again(buyer):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("holds did not recover after Redis came back")
    # The watcher's feed resumed, found its place gone and resynchronised.
    await eventually(lambda: watcher.views[showtime].held == {seats[2]}, within=10)
    assert watcher.violations == []
