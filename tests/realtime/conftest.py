from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from seatserver.loadgen.client import SeatClient, new_session
from seatserver.settings import Settings
from tests.conftest import MANY_BUYERS, TEST_COSTS
from tests.support import bound_servers

ServerFactory = Callable[..., Awaitable[TestServer]]
ClientFactory = Callable[..., Awaitable[SeatClient]]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # limit=0: the default caps a session at 100 connections, and these tests
    # open hundreds of sockets at once.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


@pytest.fixture
def settings(redis_url: str, database_url: str) -> Settings:
    return Settings(redis_url=redis_url, database_url=database_url, hold_ttl_s=60,
                    max_seats=4, heartbeat_s=5.0, **MANY_BUYERS, **TEST_COSTS)


@pytest.fixture
async def make_server(settings: Settings) -> AsyncIterator[ServerFactory]:
    # Bound servers, so the payment provider's callbacks come back to them.
    async for make in bound_servers(settings):
        yield make


@pytest.fixture
async def server(make_server: ServerFactory, demo: list[int]) -> TestServer:
    return await make_server()


@pytest.fixture
def base_url(server: TestServer) -> str:
    return str(server.make_url("/")).rstrip("/")


@pytest.fixture
async def showtime(demo: list[int]) -> int:
    return demo[0]


@pytest.fixture
async def seats(http: aiohttp.ClientSession, base_url: str, showtime: int) -> list[str]:
    async with http.get(f"{base_url}/api/showtimes/{showtime}") as resp:
        body = await resp.json()
    return [seat["id"] for seat in body["seats"]]


@pytest.fixture
async def connect(http: aiohttp.ClientSession, base_url: str
                  ) -> AsyncIterator[ClientFactory]:
    opened: list[SeatClient] = []

    async def make(url: str | None = None, **kwargs: Any) -> SeatClient:
        target = url or base_url
        client = SeatClient(http, target, await new_session(http, target), **kwargs)
        opened.append(await client.connect())
        return client

    yield make
    for client in opened:
        await client.close()
