"""The app's lifecycle, through running apps on real Redis and PostgreSQL.

Making an app does no I/O; a start that fails halfway stops what it started;
a stop that fails does not keep the others from running.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest
import redis.asyncio
from aiohttp.test_utils import TestServer
from aiohttp.web_app import CleanupError
from redis.exceptions import NoPermissionError

from seatserver.app import create_app
from seatserver.loadgen.client import SeatClient, new_session
from seatserver.settings import Settings
from tests.support import eventually

# Tasks the services run while the app runs (seatserver/background.py names them).
SERVICE_TASKS = {"changefeed", "expiry-sweeper", "loop-lag"}


def running_service_tasks() -> set[str]:
    return {t.get_name() for t in asyncio.all_tasks() if not t.done()} & SERVICE_TASKS


async def connections_to(database_url: str, application: str | None = None) -> int:
    """Connections open to the database of ``database_url`` (of ``application``)."""
    name = urlsplit(database_url).path.lstrip("/")
    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"
            " AND ($2::text IS NULL OR application_name = $2)", name, application)
    finally:
        await conn.close()
    return count


class SilentServer:
    """A TCP server that takes connections and never answers: a Redis or a
    PostgreSQL that is there but hangs. Counts the connections it was given."""

    def __init__(self) -> None:
        self.accepted = 0
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._take, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return f"127.0.0.1:{port}"

    async def __aexit__(self, *exc_info: object) -> None:
        for writer in self._writers:
            writer.close()
        self._server.close()
        await self._server.wait_closed()

    async def _take(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.append(writer)


async def test_create_app_makes_no_network_call() -> None:
    silent = SilentServer()
    async with silent as address:
        began = time.monotonic()
        create_app(Settings(redis_url=f"redis://{address}/0",
                            database_url=f"postgresql://postgres@{address}/postgres"))
        took = time.monotonic() - began
        await asyncio.sleep(0.1)  # a connection made would have been accepted by now

    assert silent.accepted == 0
    assert took < 0.5


async def test_a_start_that_fails_halfway_stops_what_started(
        redis_url: str, fresh_database_url: str) -> None:
    # No migrations: the pool opens and the hold path starts, then the
    # personal-data keys cannot be loaded (no table), and the start fails there.
    server = TestServer(create_app(Settings(redis_url=redis_url,
                                            database_url=fresh_database_url)))

    with pytest.raises(asyncpg.UndefinedTableError, match="personal_keys"):
        await server.start_server()
    await server.close()

    assert running_service_tasks() == set()
    assert await eventually(lambda: _none_left(fresh_database_url))


async def _none_left(database_url: str) -> bool:
    return await connections_to(database_url) == 0


@pytest.fixture
async def limited_redis_url(redis_url: str) -> AsyncIterator[tuple[str, str]]:
    """A Redis user that may do everything but DEL: the change feed's readers
    then fail to drop their wake streams when they stop, and the webhook
    collector to hand back its lease. Plain command rules, so that the embedded
    Redis 6.2 takes them too (key selectors such as %R~ need Redis 7).
    Yields (url, user)."""
    user, password = f"seatserver-lifecycle-{secrets.token_hex(4)}", secrets.token_hex(16)
    admin = redis.asyncio.Redis.from_url(redis_url)
    await admin.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*", "&*",
                                "+@all", "-del")
    parts = urlsplit(redis_url)
    try:
        yield urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.netloc}")), user
    finally:
        await admin.execute_command("ACL", "DELUSER", user)
        await admin.aclose()


async def test_a_stop_that_raises_still_stops_the_rest(
        limited_redis_url: tuple[str, str], redis_url: str, database_url: str,
        demo: list[int]) -> None:
    url, user = limited_redis_url
    application = f"lifecycle-{secrets.token_hex(4)}"
    server = TestServer(create_app(Settings(
        redis_url=url, database_url=f"{database_url}?application_name={application}")))
    await server.start_server()
    base = str(server.make_url("/")).rstrip("/")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        client = SeatClient(http, base, await new_session(http, base))
        await client.connect()
        try:  # following a showtime wakes the feed's reader: it has a wake stream to drop
            assert (await client.subscribe(demo[0]))["ok"] is True
        finally:
            await client.close()

    # Two features' stops fail (aiohttp gathers their groups in a CleanupError).
    with pytest.raises(CleanupError) as failed:
        await server.close()

    groups = failed.value.args[1]
    assert [type(e) for group in groups for e in group.exceptions] == [NoPermissionError] * 2
    assert running_service_tasks() == set()
    assert await connections_to(database_url, application) == 0  # the pool, stopped last
    assert await _redis_clients_of(redis_url, user) == 0


async def _redis_clients_of(redis_url: str, user: str) -> int:
    admin: Any = redis.asyncio.Redis.from_url(redis_url)
    try:
        return sum(1 for c in await admin.client_list() if c.get("user") == user)
    finally:
        await admin.aclose()
