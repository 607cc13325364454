"""``seatserver serve`` and ``seatserver reconcile`` with REDIS_URL at a cluster node."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import asyncpg
import pytest
import redis

from seatserver import redis_keys
from seatserver.loadgen.client import SeatClient, new_session
from tests.cluster.conftest import Spread
from tests.processes import PrivateCluster, ServerProcess
from tests.realtime.conftest import ServerFactory
from tests.support import eventually
from tests.test_cli import seatserver


@pytest.fixture
async def serving(cluster: PrivateCluster, database_url: str, spread: Spread
                  ) -> AsyncIterator[ServerProcess]:
    server = ServerProcess({"REDIS_URL": cluster.url, "DATABASE_URL": database_url})
    await server.start()
    yield server
    server.stop()


async def test_serve_finds_the_cluster_by_itself_and_serves_rooms_on_two_masters(
        serving: ServerProcess, spread: Spread, cluster: PrivateCluster) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        async with http.get(serving.url + "/readyz") as resp:
            assert resp.status == 200
            assert (await resp.json())["checks"] == {"redis": "ok", "postgres": "ok"}
        async with http.get(f"{serving.url}/api/showtimes/{spread.a}") as resp:
            seats = [seat["id"] for seat in (await resp.json())["seats"]]
        watcher = await SeatClient(http, serving.url, await new_session(http, serving.url)
                                   ).connect()
        buyer = await SeatClient(http, serving.url, await new_session(http, serving.url)
                                 ).connect()
        try:
            for showtime in (spread.a, spread.c):
                await watcher.subscribe(showtime)
                ack = await buyer.hold(showtime, seats[:2])
                assert ack["ok"] is True, ack
            assert (await buyer.release(spread.c, seats[:1]))["ok"] is True
            await eventually(lambda: watcher.views[spread.a].held == set(seats[:2]))
            await eventually(lambda: watcher.views[spread.c].held == set(seats[1:2]))
            assert watcher.violations == []
        finally:
            await watcher.close()
            await buyer.close()
    # The seats live on two different masters.
    owners = {cluster.master_of(redis_keys.held(s)).port for s in (spread.a, spread.c)}
    assert len(owners) == 2


async def test_best_available_and_the_orphan_rule_on_two_masters(
        serving: ServerProcess, spread: Spread, db_pool: asyncpg.Pool) -> None:
    """The geometry key lives in each showtime's slot, written there on first use."""
    await db_pool.execute("UPDATE showtimes SET no_orphans = true WHERE id = $1", spread.c)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            buyer = await SeatClient(http, serving.url, await new_session(http, serving.url)
                                     ).connect()
            try:
                for showtime in (spread.a, spread.c):
                    ack = await buyer.request("hold", showtime=showtime, best={"count": 2})
                    assert ack["ok"] is True and ack["together"] is True, ack
                refused = await buyer.hold(spread.c, ["C2"])
                assert (refused["code"], refused["seats"]) == ("would_orphan", ["C1"])
            finally:
                await buyer.close()
    finally:
        await db_pool.execute("UPDATE showtimes SET no_orphans = false WHERE id = $1",
                              spread.c)


Sell = Callable[[int], Awaitable[str]]


@pytest.fixture
async def sell(db_pool: asyncpg.Pool) -> AsyncIterator[Sell]:
    """Books a seat of a showtime in PostgreSQL only; removed again afterwards, so
    that the other tests' servers (which reconcile at start) do not see it."""
    made: list[int] = []

    async def sell(showtime: int) -> str:
        async with db_pool.acquire() as conn:
            user = await conn.fetchval("INSERT INTO users DEFAULT VALUES RETURNING id")
            booking = await conn.fetchval(
                """INSERT INTO bookings (reference, user_id, showtime_id, status, amount,
                                         currency, hold_deadline)
                   VALUES ('CLUSTER001', $1, $2, 'booked', 100, 'EUR', now())
                   RETURNING id""", user, showtime)
            await conn.execute(
                """INSERT INTO booking_seats (booking_id, showtime_id, seat_id, seat_type,
                                              amount)
                   VALUES ($1, $2, 'L9', 'vip', 100)""", booking, showtime)
        made.append(booking)
        return "L9"

    yield sell
    async with db_pool.acquire() as conn:
        await conn.execute("DELETE FROM booking_seats WHERE booking_id = ANY($1)", made)
        await conn.execute("DELETE FROM bookings WHERE id = ANY($1)", made)


async def test_reconcile_rebuilds_booked_seats_on_a_cluster(
        cluster: PrivateCluster, database_url: str, spread: Spread, sell: Sell) -> None:
    sold = await sell(spread.c)

    result = seatserver("reconcile", REDIS_URL=cluster.url, DATABASE_URL=database_url)

    assert result.returncode == 0, result.stderr
    owner = cluster.master_of(redis_keys.booked(spread.c))
    with redis.Redis(port=owner.port) as client:
        assert client.smembers(redis_keys.booked(spread.c)) == {sold.encode()}
        kinds = [f[b"k"] for _, f in client.xrange(redis_keys.events(spread.c))]
    assert kinds == [b"book"]


async def test_a_master_that_lost_its_data_gets_its_booked_seats_back(
        make_server: ServerFactory, cluster: PrivateCluster, spread: Spread,
        sell: Sell) -> None:
    # A showtime on a master other than the one a single marker key would be on:
    # only per-master markers can tell that this master lost its data.
    single = cluster.master_of(redis_keys.mirror_marker())
    showtime = next(s for s in (spread.a, spread.c)
                    if cluster.master_of(redis_keys.booked(s)) is not single)
    sold = await sell(showtime)
    await make_server(mirror_check_s=0.1)  # reconciles at start: the seat is booked
    owner = cluster.master_of(redis_keys.booked(showtime))
    with redis.Redis(port=owner.port) as client:
        assert client.smembers(redis_keys.booked(showtime)) == {sold.encode()}

        client.flushall()  # this master alone loses its data

        await eventually(lambda: client.smembers(redis_keys.booked(showtime))
                         == {sold.encode()}, within=5)
