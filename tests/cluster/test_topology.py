"""The hold path and the feed through the cluster's changes: resharding, a dead
master, a failover, flushed scripts."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest
from redis.asyncio.cluster import RedisCluster

from seatserver import redis_keys
from seatserver.holds import HoldEngine
from seatserver.loadgen.client import SeatClient
from tests.cluster.conftest import ClusterFactory, Spread, add_showtimes, choose, slot_of
from tests.holds.plans import plan
from tests.processes import PrivateCluster
from tests.realtime.conftest import ClientFactory, ServerFactory
from tests.support import eventually


@pytest.fixture
async def engine(cluster: PrivateCluster) -> AsyncIterator[HoldEngine]:
    client = RedisCluster.from_url(cluster.url)
    engine = HoldEngine(client, hold_ttl_ms=60_000, max_seats=10, stream_maxlen=1000,
                        backstop_ms=1000, max_seats_per_address=10)
    yield engine
    await engine.close()
    await client.aclose()


def other_master(cluster: PrivateCluster, showtime: int) -> int:
    """The index of a master that does not serve ``showtime``."""
    owner = cluster.master_of(redis_keys.events(showtime))
    return next(i for i, n in enumerate(cluster.masters) if n is not owner)


async def test_holds_and_the_feed_follow_a_slot_resharded_to_another_master(
        server: object, connect: ClientFactory, cluster: PrivateCluster, spread: Spread,
        seats: list[str]) -> None:
    watcher, buyer = await connect(), await connect()
    await watcher.subscribe(spread.a)
    await buyer.hold(spread.a, seats[:1])
    await eventually(lambda: watcher.views[spread.a].held == {seats[0]})
    target = cluster.masters[other_master(cluster, spread.a)]

    await asyncio.to_thread(cluster.move_slot, slot_of(spread.a), target)

    assert cluster.master_of(redis_keys.events(spread.a)) is target
    assert (await buyer.hold(spread.a, seats[1:2]))["ok"] is True  # after a MOVED
    await eventually(lambda: watcher.views[spread.a].held == set(seats[:2]), within=10)
    late = await connect()
    await late.subscribe(spread.a)
    assert late.views[spread.a].held == set(seats[:2])
    assert watcher.violations == []


async def test_a_call_mid_migration_is_asked_over_to_the_importing_master(
        engine: HoldEngine, cluster: PrivateCluster, spread: Spread) -> None:
    # The importing master runs a call only if it has every key the call
    # declares: make every key of the showtime exist (a lapse, an address,
    # the seat geometry the seating rules are checked against, sale settings
    # with the waiting room off, an admission, and a house seat blocked).
    source = cluster.master_of(redis_keys.events(spread.a))
    with source.client() as src:
        src.hset(redis_keys.sale(spread.a), "on", "0")
        src.zadd(redis_keys.admissions(spread.a), {"someone": 0})
        src.sadd(redis_keys.blocked(spread.a), "J9")
    await engine.hold(spread.a, "u0", ["A9"], ttl_ms=50, address="198.51.100.7")
    await asyncio.sleep(0.1)
    assert (await engine.expire(spread.a)).expired == 1
    await engine.hold(spread.a, "u1", ["A1"], address="198.51.100.7",
                      plan=plan("A oooooooooo\nB oooooooooo"))
    await engine.book(spread.a, "", "REF1", ["B1"], force=True)
    slot = slot_of(spread.a)
    with source.client() as src:
        keys = redis_keys.showtime_keys(spread.a)
        assert src.exists(*keys) == len(keys)
    target = cluster.masters[other_master(cluster, spread.a)]
    source_id, target_id = cluster.node_id(source), cluster.node_id(target)
    with source.client() as src, target.client() as dst:
        dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", source_id)
        src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", target_id)
        keys = src.execute_command("CLUSTER GETKEYSINSLOT", slot, 100)
        src.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)

        result = await engine.hold(spread.a, "u2", ["A2"])  # ASK, then ASKING + call

        assert src.execute_command("CLUSTER COUNTKEYSINSLOT", slot) == 0
    for node in cluster.masters:
        with node.client() as client:
            client.execute_command("CLUSTER SETSLOT", slot, "NODE", target_id)
    with target.client() as dst:
        assert dst.hget(redis_keys.held(spread.a), "A2") == b"u2"
    snapshot = await engine.snapshot(spread.a)
    assert sorted(snapshot.held) == ["A1", "A2"] and snapshot.booked == ["B1"]
    assert snapshot.offset == result.offset


async def test_a_call_that_meets_a_split_slot_waits_until_the_migration_ends(
        engine: HoldEngine, cluster: PrivateCluster, spread: Spread) -> None:
    await engine.hold(spread.a, "u1", ["A1"])  # no booked set yet: the target lacks a key
    slot = slot_of(spread.a)
    target = cluster.masters[other_master(cluster, spread.a)]
    source = cluster.master_of(redis_keys.events(spread.a))
    target_id = cluster.node_id(target)
    with source.client() as src, target.client() as dst:
        dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", cluster.node_id(source))
        src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", target_id)
        keys = src.execute_command("CLUSTER GETKEYSINSLOT", slot, 100)
        src.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)

    def finish() -> None:
        for node in cluster.masters:
            with node.client() as client:
                client.execute_command("CLUSTER SETSLOT", slot, "NODE", target_id)

    # TRYAGAIN until the slot is the target's, then MOVED there.
    timer = threading.Timer(0.12, finish)
    timer.start()
    try:
        result = await engine.hold(spread.a, "u2", ["A2"])
    finally:
        timer.join()
    assert result.expires_at > 0
    assert sorted((await engine.snapshot(spread.a)).held) == ["A1", "A2"]


async def test_flushed_scripts_are_loaded_again_on_each_master(
        engine: HoldEngine, cluster: PrivateCluster, spread: Spread) -> None:
    await engine.hold(spread.a, "u1", ["A1"])
    await engine.hold(spread.c, "u1", ["A1"])
    for node in cluster.masters:
        with node.client() as client:
            client.script_flush()

    await engine.hold(spread.a, "u1", ["A2"])
    await engine.hold(spread.c, "u1", ["A2"])

    assert (await engine.snapshot(spread.a, "u1")).mine.keys() == {"A1", "A2"}
    assert (await engine.snapshot(spread.c, "u1")).mine.keys() == {"A1", "A2"}


async def holder_of(url: str, client: SeatClient) -> str:
    """The holder id of a client's session (its user id)."""
    async with aiohttp.ClientSession() as http, http.get(
            url + "/api/me", headers={"Authorization": f"Bearer {client.token}"}) as resp:
        return str((await resp.json())["id"])


async def test_a_dead_master_makes_only_its_showtimes_unavailable(
        make_cluster: ClusterFactory, make_server: ServerFactory, connect: ClientFactory,
        db_pool: asyncpg.Pool, demo: list[int], seats: list[str]) -> None:
    # Without full coverage the live masters keep serving their slots even
    # after the dead one is marked failed (Redis' default refuses everything).
    broken = make_cluster(3, 0, "--cluster-require-full-coverage", "no")
    spread = Spread(*choose(broken))
    await add_showtimes(db_pool, spread.all, demo[0])
    server = await make_server(redis_url=broken.url)
    url = str(server.make_url("/")).rstrip("/")
    watcher, buyer = await connect(url), await connect(url)
    for showtime in spread.all:
        await watcher.subscribe(showtime)
    doomed = broken.master_of(redis_keys.events(spread.c))
    # A buyer whose own holder index (guest linking) lives on the node that
    # dies: holding in the live showtimes must not depend on it.
    stranded = None
    for _ in range(30):
        client = await connect(url)
        if broken.master_of(redis_keys.holder_showtimes(await holder_of(url, client))) is doomed:
            stranded = client
            break
    assert stranded is not None, "no guest's holder index landed on that node in 30 tries"

    doomed.stop()

    refused = await buyer.hold(spread.c, seats[:1])
    assert refused["ok"] is False and refused["code"] == "unavailable"
    for showtime in (spread.a, spread.b):
        assert (await buyer.hold(showtime, seats[:1]))["ok"] is True
        assert (await stranded.hold(showtime, seats[2:3]))["ok"] is True
    await eventually(lambda: all(watcher.views[s].held == {seats[0], seats[2]}
                                 for s in (spread.a, spread.b)))
    status, body = await readyz(url)
    assert status == 200, body
    assert body["checks"]["redis"].startswith("degraded: ")
    assert watcher.violations == []

    for node in broken.masters:
        node.stop()
    refused = await buyer.hold(spread.a, seats[1:2])
    assert refused["ok"] is False and refused["code"] == "unavailable"
    status, body = await readyz(url)
    assert status == 503 and body["checks"]["redis"].startswith("failed"), body


async def readyz(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url + "/readyz") as resp:
        return resp.status, await resp.json()


async def test_a_failover_moves_holds_and_the_feed_to_the_promoted_replica(
        make_cluster: ClusterFactory, make_server: ServerFactory, connect: ClientFactory,
        db_pool: asyncpg.Pool, demo: list[int], seats: list[str]) -> None:
    replicated = make_cluster(3, 1)  # the replica serves the first master
    first = replicated.masters[0]
    showtime = next(s for s in range(7_200_000, 7_210_000)
                    if replicated.master_of(redis_keys.events(s)) is first)
    await add_showtimes(db_pool, (showtime,), demo[0])
    server = await make_server(redis_url=replicated.url)
    url = str(server.make_url("/")).rstrip("/")
    watcher, buyer = await connect(url), await connect(url)
    await watcher.subscribe(showtime)
    assert (await buyer.hold(showtime, seats[:1]))["ok"] is True
    await eventually(lambda: watcher.views[showtime].held == {seats[0]})
    with first.client() as client:
        client.wait(1, 1000)  # the replica has the hold

    first.stop()

    for _ in range(150):
        ack = await buyer.hold(showtime, seats[1:2])
        if ack["ok"]:
            break
        assert ack["code"] == "unavailable"
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("holds did not come back after the failover")
    assert replicated.master_of(redis_keys.events(showtime)) is replicated.replicas[0]
    await eventually(lambda: watcher.views[showtime].held == set(seats[:2]), within=10)
    assert watcher.violations == []
