"""Fixtures every test suite shares: real Redis and PostgreSQL, never mocks.

``TEST_REDIS_URL`` / ``TEST_DATABASE_URL`` point the tests at running servers;
without them one embedded Redis and PostgreSQL serve the whole session. Each
session migrates a database of its own, so concurrent runs on one PostgreSQL
do not meet; Redis is flushed before each test that asks for it.

``make test`` runs the suite in parallel processes (pytest-xdist); each is a
session of its own here, with its own embedded servers or, on given ones, its
own Redis database number (``worker_redis_url``).

Session-scoped fixtures are sync and run their async work in a short loop of
their own (on a thread, see ``tests.services.run_sync``), which keeps them out of the way of
pytest-asyncio's per-test loops.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import redis

from seatserver.catalog.seed import seed_demo
from seatserver.db import create_pool, migrate
from seatserver.embedded import EmbeddedServices
from tests import forked, tracebacks
from tests.services import Services, drop_database, make_database, run_sync


@pytest.fixture(scope="session")
def server_data_root() -> Iterator[Path]:
    """Where embedded servers keep their data during the tests.

    Not under pytest's tmp_path: every pytest session that starts resets
    /tmp/pytest-of-<user> to mode 0700, which would lock the embedded
    PostgreSQL's own system user out of a data folder another run is using.
    """
    root = Path(tempfile.mkdtemp(prefix="seatserver-tests-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def server_data_dir(server_data_root: Path) -> Path:
    """A data folder of this test's own for embedded servers (not yet created).

    Open like the root above, so that as root the embedded PostgreSQL keeps
    its cluster here, removed with the folder, rather than in the shared place
    for unreachable folders (seatserver/embedded.py) until a later start."""
    folder = Path(tempfile.mkdtemp(dir=server_data_root))
    folder.chmod(0o755)
    return folder / "data"


# Tests run many buyers from one address (127.0.0.1), as load tests do: every
# server they start raises the per-address limits meant for the public, on
# purpose and in one place. Tests of the limits themselves set their own.
MANY_BUYERS = {"guest_sessions_per_minute": 1_000_000, "max_seats_per_address": 1_000_000}
MANY_BUYERS_ENV = {"SEATSERVER_GUEST_SESSIONS_PER_MINUTE": "1000000",
                   "SEATSERVER_MAX_SEATS_PER_ADDRESS": "1000000"}
# Cheap password hashes (accounts/passwords.py): the suite makes a few hundred
# accounts, ~70 s of CPU at the standard cost. Tests of the hashing itself
# construct their own Passwords.
TEST_COSTS = {"password_cost": "test"}
TEST_COSTS_ENV = {"SEATSERVER_PASSWORD_COST": "test"}


# Databases a test session uses beyond its own (tests.bookings.conftest.other_db).
REDIS_DBS_PER_SESSION = 3


def worker_redis_url(redis_url: str) -> str:
    """The given Redis for this process: parallel workers (pytest-xdist's
    ``gwN``) each take the database number ``REDIS_DBS_PER_SESSION * N`` past
    the given one, as Redis is flushed per test."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker.removeprefix("gw") or 0)
    parts = urlsplit(redis_url)
    db = int(parts.path.lstrip("/") or 0) + REDIS_DBS_PER_SESSION * index
    if db + REDIS_DBS_PER_SESSION > 16:
        raise pytest.UsageError(
            f"TEST_REDIS_URL's database number is too high: each test process uses "
            f"{REDIS_DBS_PER_SESSION} from it (this is process {index + 1}), of 16")
    return urlunsplit(parts._replace(path=f"/{db}"))


@pytest.fixture(scope="session")
def services(server_data_root: Path) -> Iterator[Services]:
    redis_url = os.environ.get("TEST_REDIS_URL")
    database_url = os.environ.get("TEST_DATABASE_URL")
    if redis_url and database_url:
        yield Services(worker_redis_url(redis_url), database_url)
        return
    embedded = EmbeddedServices(server_data_root / "services")
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


def pytest_sessionfinish(session: pytest.Session) -> None:
    forked.close()  # the warm seatserver that test servers are forked from


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{tracebacks.MARKER}(*patterns): the test makes its server log a "
        "traceback on purpose; each one logged must match a pattern (tests/tracebacks.py)")


@pytest.fixture(autouse=True)
def no_unexpected_tracebacks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails the test when a server it ran logged a traceback it did not expect."""
    watch = tracebacks.TracebackWatch()
    root = logging.getLogger()
    root.addHandler(watch)
    tracebacks.watch(watch)
    try:
        yield
    finally:
        tracebacks.watch(None)
        root.removeHandler(watch)
    marker = request.node.get_closest_marker(tracebacks.MARKER)
    patterns = [str(p) for p in marker.args] if marker else []
    unexpected = watch.unexpected(patterns)
    if unexpected:
        pytest.fail(f"{len(unexpected)} unexpected traceback(s) logged (mark the test "
                    f"@pytest.mark.{tracebacks.MARKER}(pattern) if it is meant to):\n\n"
                    + "\n\n".join(t[:3000] for t in unexpected[:5]), pytrace=False)


# Whole-system suites that take minutes: `make test` and CI run them, `make
# test-fast` (-m "not slow") leaves them out. Marked by place, here, so that
# the suites need no edit; a slow test elsewhere carries @pytest.mark.slow.
SLOW_SUITES = ("chaos/", "cluster/", "deploy/", "api/test_fuzzing.py")


# The files that take longest, started first: `make test` hands whole files to
# its two processes in collection order, and a long file picked up last kept
# one process busy alone for the last minutes (a fresh run spent 4 of its 8
# minutes on its last 11 % of tests).
LONG_FIRST = ("api/test_fuzzing.py", "chaos/", "cluster/", "deploy/", "e2e/", "loadgen/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent

    def place(item: pytest.Item) -> str:
        return item.path.relative_to(here).as_posix() if item.path.is_relative_to(here) else ""

    for item in items:
        if place(item).startswith(SLOW_SUITES):
            item.add_marker(pytest.mark.slow)

    def rank(item: pytest.Item) -> int:
        where = place(item)
        return next((i for i, prefix in enumerate(LONG_FIRST) if where.startswith(prefix)),
                    len(LONG_FIRST))

    items.sort(key=rank)  # stable: each file keeps its own order
