"""Fixtures every test suite shares: real Redis and PostgreSQL, never mocks.

``TEST_REDIS_URL`` / ``TEST_DATABASE_URL`` point the tests at running servers;
without them one embedded Redis and PostgreSQL serve the whole session. Each
session migrates a database of its own, so concurrent runs on one PostgreSQL
do not meet; Redis is flushed before each test that asks for it.

Session-scoped fixtures are sync and run their async work in a short loop of
their own (on a thread, see ``run_sync``), which keeps them out of the way of
pytest-asyncio's per-test loops.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import redis

from seatserver.catalog.seed import seed_demo
from seatserver.db import create_pool, migrate
from seatserver.embedded import EmbeddedServices

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Services:
    redis_url: str
    database_url: str


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine in a loop of its own on a thread of its own.

    ``asyncio.run`` on this thread would reset the current event loop that
    pytest-asyncio and aiohttp's fixtures use.
    """
    with ThreadPoolExecutor(1) as executor:
        return executor.submit(asyncio.run, coro).result()


def database_dsn(dsn: str, name: str) -> str:
    """The DSN of another database on the same server."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _create_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        # FORCE: a test that leaked a connection must not leak the database too.
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def make_database(admin_dsn: str, prefix: str = "seatserver_test") -> tuple[str, str]:
    """Create an empty database; returns its (name, dsn)."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    run_sync(_create_database(admin_dsn, name))
    return name, database_dsn(admin_dsn, name)


def drop_database(admin_dsn: str, name: str) -> None:
    run_sync(_drop_database(admin_dsn, name))


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    redis_url = os.environ.get("TEST_REDIS_URL")
    database_url = os.environ.get("TEST_DATABASE_URL")
    if redis_url and database_url:
        yield Services(redis_url, database_url)
        return
    embedded = EmbeddedServices(tmp_path_factory.mktemp("services"))
    redis_url, database_url = embedded.start()
    try:
        yield Services(redis_url, database_url)
    finally:
        embedded.stop()


@pytest.fixture(scope="session")
def database_url(services: Services) -> Iterator[str]:
    """A migrated database of this test session's own, dropped at the end."""
    name, dsn = make_database(services.database_url)
    try:
        run_sync(migrate(dsn))
        yield dsn
    finally:
        drop_database(services.database_url, name)


@pytest.fixture
def fresh_database_url(services: Services) -> Iterator[str]:
    """An empty, unmigrated database for this one test."""
    name, dsn = make_database(services.database_url, prefix="seatserver_fresh")
    try:
        yield dsn
    finally:
        drop_database(services.database_url, name)


@pytest.fixture
def redis_url(services: Services) -> str:
    with redis.Redis.from_url(services.redis_url) as client:
        client.flushdb()
    return services.redis_url


@pytest.fixture
async def db_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, 4)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def demo(db_pool: asyncpg.Pool) -> list[int]:
    """The demo catalog in the test database; the ids of its showtimes."""
    return await seed_demo(db_pool)
