"""deploy/haproxy.cfg in front of two `seatserver serve` processes (Debian's haproxy).

The same configuration file docker-compose.yml mounts: WebSockets pass
through it, both instances get connections, and when one instance dies the
LB's health check takes it out while its clients reconnect through the LB
to the other and resume with ``since``.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator

import aiohttp
import pytest

from seatserver.loadgen.client import SeatClient, new_session
from tests.balancer import Balancer, NoHAProxy, balancer_for, haproxy_binary
from tests.processes import ServerProcess
from tests.support import eventually

CLIENTS = 8


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def instances(redis_url: str, database_url: str, demo: list[int]
                    ) -> AsyncIterator[list[ServerProcess]]:
    env = {"REDIS_URL": redis_url, "DATABASE_URL": database_url}
    servers = [ServerProcess(env), ServerProcess(env)]
    try:
        await asyncio.gather(*(s.start() for s in servers))
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
async def balancer(instances: list[ServerProcess], http: aiohttp.ClientSession
                   ) -> AsyncIterator[Balancer]:
    try:
        haproxy_binary()
    except NoHAProxy as exc:
        pytest.fail(str(exc))
    async with balancer_for([s.port for s in instances], http) as lb:
        yield lb


async def connect(http: aiohttp.ClientSession, url: str) -> SeatClient:
    return await SeatClient(http, url, await new_session(http, url)).connect()


async def test_websockets_pass_the_balancer_and_reach_both_instances(
        balancer: Balancer, http: aiohttp.ClientSession, demo: list[int]) -> None:
    showtime = demo[0]
    clients = [await connect(http, balancer.url) for _ in range(CLIENTS)]
    try:
        await asyncio.gather(*(c.subscribe(showtime) for c in clients))
        servers = await balancer.servers(http)
        assert all(int(row["scur"]) >= CLIENTS // 2 - 1 for row in servers.values()), servers
        assert (await clients[0].hold(showtime, ["A1"]))["ok"]
        await eventually(lambda: all("A1" in c.views[showtime].held for c in clients),
                         within=3)
    finally:
        await asyncio.gather(*(c.close() for c in clients))


async def test_when_an_instance_dies_clients_resume_through_the_balancer(
        balancer: Balancer, instances: list[ServerProcess], http: aiohttp.ClientSession,
        demo: list[int]) -> None:
    showtime = demo[0]
    clients = [await connect(http, balancer.url) for _ in range(CLIENTS)]
    try:
        await asyncio.gather(*(c.subscribe(showtime) for c in clients))
        assert (await clients[0].hold(showtime, ["B1"]))["ok"]  # a position to resume from
        await eventually(lambda: all("B1" in c.views[showtime].held for c in clients),
                         within=3)
        victim = instances[0]
        assert victim.proc is not None
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(10)
        await eventually(lambda: sum(c.closed for c in clients) >= CLIENTS // 2 - 1,
                         within=5)
        cut = [c for c in clients if c.closed]

        await balancer.until(http, "app1", "DOWN")
        # Changes made while they were away reach them on resume, exactly once.
        survivor = next(c for c in clients if not c.closed)
        assert (await survivor.hold(showtime, ["B2"]))["ok"]
        for client in cut:
            await client.connect()
            ack = await client.subscribe(showtime, since=client.views[showtime].offset)
            assert ack["ok"] and ack["resumed"] is True, ack
        assert (await cut[0].hold(showtime, ["B3"]))["ok"]
        await eventually(lambda: all({"B1", "B2", "B3"} <= c.views[showtime].held
                                     for c in clients), within=3)
        assert not any(c.violations for c in clients)
    finally:
        await asyncio.gather(*(c.close() for c in clients))
