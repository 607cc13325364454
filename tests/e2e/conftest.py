"""Browser tests: real ``seatserver serve`` processes, driven by Debian's Chromium.

Every test gets a freshly flushed Redis, the session's migrated and seeded
database, and servers of its own (``start_server``), so a test may stop and
restart them at will. Pages run in separate browser contexts, each with its own
cookie jar: two contexts are two different people.

One Chromium serves every test of a process (each pytest-xdist worker has its
own): starting it costs more than most tests. Contexts are what keep tests
apart, and each test closes its own. Playwright's objects belong to the event
loop that made them, so the tests that use the browser, and their async
fixtures, run on the session's loop (``pytest_collection_modifyitems``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright

from seatserver.catalog.seed import seed_demo
from seatserver.db import create_pool, migrate
from tests.e2e.browsing import CHROMIUM, CHROMIUM_ARGS, Browsing, Shop, require_chromium
from tests.e2e.server import Server, ServerFactory
from tests.processes import FrozenRedis, build_frozen_clock
from tests.services import Services, drop_database, make_database, run_sync


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
def demo_showtimes(database_url: str) -> list[int]:
    return run_sync(_seed(database_url))


@pytest.fixture
def showtimes(database_url: str, demo_showtimes: list[int]) -> list[int]:
    """The demo showtimes' ids, earliest first (212 seats; rows E-J are gold),
    in the session's database, checked to be there still: a test run earlier
    in this process that deletes one fails its pages here as a clear error
    rather than as a page left "connecting" (it happened)."""
    run_sync(_still_there(database_url, demo_showtimes))
    return demo_showtimes


async def _still_there(database_url: str, showtimes: list[int]) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        found = await conn.fetch("SELECT id FROM showtimes WHERE id = ANY($1::bigint[])",
                                 showtimes)
    finally:
        await conn.close()
    gone = sorted(set(showtimes) - {row["id"] for row in found})
    if gone:
        pytest.fail(f"demo showtime(s) {gone} are gone from the session's database: a test "
                    "run before this one in this process deleted them (tests that delete "
                    "must use ids of their own or fresh_database_url)", pytrace=False)


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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    session_loop = pytest.mark.asyncio(loop_scope="session")
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(session_loop, append=False)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                   args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest_asyncio.fixture(loop_scope="session")
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


@pytest.fixture(scope="session")
def seeded_template(services: Services) -> Iterator[tuple[str, list[int]]]:
    """A migrated and seeded database that no one connects to, and its demo
    showtimes: ``seeded_database_url`` copies it (CREATE DATABASE ...
    TEMPLATE), which takes a tenth of the time of migrating and seeding anew."""
    name, dsn = make_database(services.database_url, prefix="seatserver_seeded")
    try:
        yield name, run_sync(migrate_and_seed(dsn))
    finally:
        drop_database(services.database_url, name)


@pytest.fixture
def seeded_database_url(services: Services, seeded_template: tuple[str, list[int]]
                        ) -> Iterator[str]:
    """A migrated database with the demo seeded, for this one test."""
    name, dsn = make_database(services.database_url, prefix="seatserver_fresh",
                              template=seeded_template[0])
    try:
        yield dsn
    finally:
        drop_database(services.database_url, name)


@pytest.fixture
def shop(seeded_database_url: str, seeded_template: tuple[str, list[int]],
         browsing: Browsing, start_server: ServerFactory) -> Shop:
    """Asks for its database first, so that it is dropped after the servers stop:
    tests should ask for ``shop`` alone, not ``browsing`` or ``start_server`` too."""
    # Tomorrow's show: today's closes its sales 10 minutes before 20:00 Berlin time,
    # and a run in those minutes could not check out.
    return Shop(browsing, start_server, seeded_database_url, seeded_template[1][1])
