"""The server on a local Redis Cluster of 3 masters, started from redis-server.

The cluster is shared by this package's tests (it takes two seconds to
start) and flushed before each test; tests that break it (a master killed, a failover) start one
of their own with ``make_cluster``. Showtimes are chosen by where their hash
slot lives: two on the same master in different slots (one XREAD over both
would be refused with CROSSSLOT) and one on another master.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from redis.crc import key_slot

from seatserver import redis_keys
from seatserver.settings import Settings
from tests.conftest import MANY_BUYERS, TEST_COSTS
from tests.processes import ClusterNodeProcess, PrivateCluster
from tests.realtime import conftest as realtime
from tests.realtime.conftest import ServerFactory
from tests.support import bound_servers

# The realtime suite's fixtures: an HTTP session and WebSocket clients.
http = realtime.http
connect = realtime.connect
base_url = realtime.base_url
seats = realtime.seats

# Showtime ids of this suite's own, far above what the other suites create.
FIRST_ID = 7_100_000

ClusterFactory = Callable[..., PrivateCluster]


@dataclass(frozen=True, slots=True)
class Spread:
    """``a`` and ``b`` on one master in different slots, ``c`` on another master."""

    a: int
    b: int
    c: int

    @property
    def all(self) -> tuple[int, int, int]:
        return self.a, self.b, self.c


def slot_of(showtime: int) -> int:
    return key_slot(redis_keys.events(showtime).encode())


@pytest.fixture(scope="package")
def shared_cluster() -> Iterator[PrivateCluster]:
    cluster = PrivateCluster(masters=3)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def make_cluster() -> Iterator[ClusterFactory]:
    """Clusters of this test's own, to break at will."""
    made: list[PrivateCluster] = []

    def make(masters: int = 3, replicas: int = 0, *options: str) -> PrivateCluster:
        cluster = PrivateCluster(masters, replicas, *options)
        made.append(cluster)
        cluster.start()
        return cluster

    yield make
    for cluster in made:
        cluster.stop()


@pytest.fixture
def cluster(shared_cluster: PrivateCluster) -> PrivateCluster:
    shared_cluster.flush()
    return shared_cluster


def choose(cluster: PrivateCluster) -> tuple[int, int, int]:
    """Showtime ids for a ``Spread`` on this cluster's slot map."""
    by_master: dict[int, list[int]] = {}
    for showtime in range(FIRST_ID, FIRST_ID + 1000):
        owner: ClusterNodeProcess = cluster.master_of(redis_keys.events(showtime))
        by_master.setdefault(owner.port, []).append(showtime)
        first = next(iter(by_master.values()))
        if len(first) >= 2 and len(by_master) >= 2:
            other = next(ids for port, ids in by_master.items() if ids is not first)
            return first[0], first[1], other[0]
    raise AssertionError("no spread of showtimes found")


async def add_showtimes(pool: asyncpg.Pool, ids: tuple[int, ...], like: int) -> None:
    """Showtimes with these ids on ``like``'s screen, each after the screen's last
    show (they may not overlap), priced like ``like``; idempotent."""
    async with pool.acquire() as conn, conn.transaction():
        for showtime in ids:
            await conn.execute(
                """INSERT INTO showtimes (id, movie_id, screen_id, starts_at, currency,
                                          no_orphans, companions_alone)
                   SELECT $1, movie_id, screen_id,
                          greatest(now() + interval '5 days',
                                   (SELECT max(ends_at) FROM showtimes o
                                    WHERE o.screen_id = s.screen_id))
                              + interval '1 hour', currency, no_orphans, companions_alone
                   FROM showtimes s WHERE id = $2
                   ON CONFLICT (id) DO NOTHING""", showtime, like)
            await conn.execute(
                """INSERT INTO showtime_prices (showtime_id, seat_type, amount)
                   SELECT $1, seat_type, amount FROM showtime_prices WHERE showtime_id = $2
                   ON CONFLICT DO NOTHING""", showtime, like)


@pytest.fixture
async def spread(cluster: PrivateCluster, db_pool: asyncpg.Pool, demo: list[int]) -> Spread:
    chosen = Spread(*choose(cluster))
    assert slot_of(chosen.a) != slot_of(chosen.b)
    await add_showtimes(db_pool, chosen.all, demo[0])
    return chosen


@pytest.fixture
def settings(cluster: PrivateCluster, database_url: str, tmp_path: Path) -> Settings:
    # redis_cluster left to detection: the URL is a plain redis:// one.
    return Settings(redis_url=cluster.url, database_url=database_url, hold_ttl_s=60,
                    max_seats=4, heartbeat_s=5.0, rate_per_s=10_000, rate_burst=10_000,
                    sim_duplicate_rate=0.0, sim_reorder_rate=0.0, sim_retry_base_s=0.05,
                    pending_sweep_s=0.2, outbox_poll_s=0.1, data_dir=tmp_path / "data",
                    **MANY_BUYERS, **TEST_COSTS)


@pytest.fixture
async def make_server(settings: Settings) -> AsyncIterator[ServerFactory]:
    # Bound servers, so the payment provider's callbacks come back to them.
    async for make in bound_servers(settings):
        yield make


@pytest.fixture
async def server(make_server: ServerFactory, spread: Spread) -> TestServer:
    return await make_server()


@pytest.fixture
async def showtime(spread: Spread) -> int:
    return spread.a
