"""Browser tests: real ``seatserver serve`` processes, driven by Debian's Chromium.

Every test gets a freshly flushed Redis, the session's migrated and seeded
database, and servers of its own (``start_server``), so a test may stop and
restart them at will. Pages run in separate browser contexts, each with its own
cookie jar: two contexts are two different people.

Each test starts a Chromium of its own, on its own event loop. One Chromium per
process on the session's loop was tried and taken back while a failure seen in
full parallel runs (pages stuck "connecting", docs/web.md) was looked for; the
failure turned out to come with per-test browsers too, so the shared browser
may come back once its cause is found.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from seatserver.catalog.seed import seed_demo
from seatserver.db import create_pool, migrate
from tests.e2e.browsing import CHROMIUM, CHROMIUM_ARGS, Browsing, Shop, require_chromium
from tests.e2e.server import Server, ServerFactory
from tests.processes import FrozenRedis, build_frozen_clock
from tests.services import run_sync


async def migrate_and_seed(database_url: str) -> list[int]:
    await migrate(database_url)
    return await _seed(database_url)


async def _seed(database_url: str) -> list[int]:
    pool = await create_pool(database_url, 2)
    try:
        return await seed_demo(pool)
    finally:
        await pool.close()


@pytest.fixture(scope="session")
def showtimes(database_url: str) -> list[int]:
    """The demo showtimes' ids, earliest first (212 seats; rows E-J are gold)."""
    return run_sync(_seed(database_url))


@pytest.fixture
def start_server(redis_url: str, database_url: str, showtimes: list[int]
                 ) -> Iterator[ServerFactory]:
    factory = ServerFactory(redis_url, database_url)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def server(start_server: ServerFactory) -> Server:
    return start_server()


@pytest.fixture(scope="session")
def frozen_clock(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_frozen_clock(tmp_path_factory.mktemp("clock"))


@pytest.fixture
def frozen_redis(frozen_clock: Path) -> Iterator[FrozenRedis]:
    """A Redis of the test's own, to restart empty, whose wall clock stands at
    the test's start: restarted, it hands out the stream ids it handed out
    before, for other entries, so only the stream's epoch tells them apart."""
    redis = FrozenRedis(frozen_clock, int(time.time() * 1000))
    redis.start()
    try:
        yield redis
    finally:
        redis.remove()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                   args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def browsing(browser: Browser, start_server: ServerFactory) -> AsyncIterator[Browsing]:
    """Opens pages as separate people; fails the test on any uncaught page error.

    Asks for ``start_server`` only to be torn down before it: pages close
    before their servers stop, so no page is left reconnecting to a server
    on its way down.
    """
    session = Browsing(browser)
    try:
        yield session
    finally:
        await session.close()
    session.check()


@pytest.fixture
def shop(fresh_database_url: str, browsing: Browsing, start_server: ServerFactory) -> Shop:
    """Asks for its database first, so that it is dropped after the servers stop:
    tests should ask for ``shop`` alone, not ``browsing`` or ``start_server`` too."""
    showtimes = run_sync(migrate_and_seed(fresh_database_url))
    # Tomorrow's show: today's closes its sales 10 minutes before 20:00 Berlin time,
    # and a run in those minutes could not check out.
    return Shop(browsing, start_server, fresh_database_url, showtimes[1])
