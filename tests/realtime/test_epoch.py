"""Stream epochs: a `since` from another life of the stream gets a snapshot.

Stream ids are Redis' wall clock. A Redis that lost the stream (restarted
empty) or never had all of it (a replica promoted while behind) starts over
from whatever its clock says, and when that clock is not past the ids handed
out before (a host whose clock was stepped back, a replica on a host that is
behind), it hands out the same ids again for other events. A client resuming
from such an id would find it "still there" and miss everything in between.
The Redis servers here run with their wall clock frozen (tests/frozen_clock.c), so
the reissue happens every time rather than by bad luck.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from seatserver.loadgen.client import SeatClient
from tests.processes import FrozenRedis, build_frozen_clock
from tests.realtime.conftest import ClientFactory, ServerFactory
from tests.support import eventually


@pytest.fixture(scope="session")
def frozen_clock(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The clock shim, built for this machine (it needs a C compiler)."""
    return build_frozen_clock(tmp_path_factory.mktemp("clock"))


@pytest.fixture
def frozen_at() -> int:
    return int(time.time() * 1000)


@pytest.fixture
def make_redis() -> Iterator[list[FrozenRedis]]:
    started: list[FrozenRedis] = []
    yield started
    for server in started:
        server.remove()


def _frozen(started: list[FrozenRedis], library: Path, at_ms: int, *options: str
            ) -> FrozenRedis:
    server = FrozenRedis(library, at_ms, *options)
    started.append(server)
    server.start()
    return server


async def _hold(client: SeatClient, showtime: int, seats: list[str]) -> dict[str, object]:
    """Hold, retrying while the server's script connection finds Redis again."""
    for _ in range(100):
        ack = await client.hold(showtime, seats)
        if ack.get("code") != "unavailable":
            return ack
        await asyncio.sleep(0.05)
    raise AssertionError("the seat service did not come back")


async def test_resume_after_redis_restarted_empty_gets_a_snapshot_though_the_id_was_reissued(
        make_server: ServerFactory, connect: ClientFactory, make_redis: list[FrozenRedis],
        frozen_clock: Path, frozen_at: int, showtime: int, seats: list[str]) -> None:
    store = _frozen(make_redis, frozen_clock, frozen_at)
    server = await make_server(redis_url=store.url)
    url = str(server.make_url("/")).rstrip("/")
    buyer, watcher = await connect(url), await connect(url)
    await watcher.subscribe(showtime)
    assert (await buyer.hold(showtime, seats[:1]))["ok"]
    assert (await buyer.hold(showtime, seats[1:2]))["ok"]
    view = watcher.views[showtime]
    await eventually(lambda: view.held == set(seats[:2]))
    since, epoch = view.offset, view.epoch
    assert since == f"{frozen_at}-1"  # frozen clock: the second entry of that instant
    await watcher.close()

    store.stop()
    store.start()  # empty, and its clock no further on
    assert (await _hold(buyer, showtime, seats[5:6]))["ok"]
    assert (await _hold(buyer, showtime, seats[6:7]))["ok"]
    with store.client() as plain:  # the old id is there again, for another event
        assert plain.xrange(f"ev:{{st:{showtime}}}", since, since)

    again = await connect(url)
    again.keep_frames = True
    ack = await again.subscribe(showtime, since=since, epoch=epoch)
    assert ack["resumed"] is False
    snapshot = again.frames[0]
    assert snapshot["t"] == "snapshot" and snapshot["epoch"] != epoch
    assert set(snapshot["held"]) == set(seats[5:7])
    assert again.violations == []


async def test_resume_after_failover_to_a_replica_behind_gets_a_snapshot(
        make_server: ServerFactory, connect: ClientFactory, make_redis: list[FrozenRedis],
        frozen_clock: Path, frozen_at: int, showtime: int, seats: list[str]) -> None:
    master = _frozen(make_redis, frozen_clock, frozen_at)
    replica = _frozen(make_redis, frozen_clock, frozen_at, "--replicaof", "127.0.0.1",
                      str(master.port))
    with replica.client() as plain:
        await eventually(lambda: plain.info("replication")["master_link_status"] == "up",
                         within=10)
    before = await make_server(redis_url=master.url)
    url = str(before.make_url("/")).rstrip("/")
    buyer, watcher = await connect(url), await connect(url)
    await watcher.subscribe(showtime)
    assert (await buyer.hold(showtime, seats[:1]))["ok"]
    stream = f"ev:{{st:{showtime}}}"
    with replica.client() as plain:
        await eventually(lambda: plain.xlen(stream) == 1)
        plain.execute_command("REPLICAOF", "NO", "ONE")  # replication stops here
    # The master takes one more change that the replica never gets.
    assert (await buyer.hold(showtime, seats[1:2]))["ok"]
    view = watcher.views[showtime]
    await eventually(lambda: view.held == set(seats[:2]))
    since, epoch = view.offset, view.epoch
    assert since == f"{frozen_at}-1"
    await watcher.close()
    master.stop()

    # Failover: the promoted replica serves the showtime from now on.
    after = await make_server(redis_url=replica.url)
    url = str(after.make_url("/")).rstrip("/")
    buyer = await connect(url)
    assert (await _hold(buyer, showtime, seats[7:8]))["ok"]
    with replica.client() as plain:  # the id the client saw, now for another event
        assert plain.xrange(stream, since, since)[0][1][b"s"] == seats[7].encode()

    again = await connect(url)
    again.keep_frames = True
    ack = await again.subscribe(showtime, since=since, epoch=epoch)
    assert ack["resumed"] is False
    snapshot = again.frames[0]
    assert snapshot["t"] == "snapshot" and snapshot["epoch"] != epoch
    # The replica's truth: the first hold (replicated) and the new one.
    assert set(snapshot["held"]) == {seats[0], seats[7]}
    assert again.violations == []


async def test_resume_within_the_epoch_still_replays_the_missed_updates(
        connect: ClientFactory, showtime: int, seats: list[str]) -> None:
    buyer, watcher = await connect(), await connect()
    await watcher.subscribe(showtime)
    assert (await buyer.hold(showtime, seats[:1]))["ok"]
    view = watcher.views[showtime]
    await eventually(lambda: view.held == {seats[0]})
    since, epoch = view.offset, view.epoch
    assert epoch
    await watcher.close()
    ack = await buyer.hold(showtime, seats[1:2])
    assert ack["epoch"] == epoch  # acks name the epoch of their offset

    again = await connect()
    again.keep_frames = True
    assert (await again.subscribe(showtime, since=since, epoch=epoch))["resumed"] is True
    frames = [f for f in again.frames if f["t"] != "ack"]
    assert [(f["t"], f["epoch"], f["seats"]) for f in frames] == [
        ("update", epoch, {seats[1]: "held"})]


async def test_resume_with_an_epoch_that_never_was_gets_a_snapshot(
        connect: ClientFactory, showtime: int, seats: list[str]) -> None:
    buyer, watcher = await connect(), await connect()
    await watcher.subscribe(showtime)
    assert (await buyer.hold(showtime, seats[:1]))["ok"]
    view = watcher.views[showtime]
    await eventually(lambda: view.held == {seats[0]})
    for epoch in ("", "x" * 64, "\x00", "١٢", view.epoch + "0"):
        again = await connect()
        again.keep_frames = True
        ack = await again.subscribe(showtime, since=view.offset, epoch=epoch)
        assert ack["ok"] is True and ack["resumed"] is False
        assert again.frames[0]["t"] == "snapshot"
        assert again.frames[0]["epoch"] == view.epoch
