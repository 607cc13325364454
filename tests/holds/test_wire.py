"""The hold scripts' own pipelined socket to Redis (holds/wire.py) on real servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from seatserver import redis_keys
from seatserver.errors import Unavailable
from seatserver.holds import HoldEngine
from tests.processes import PrivateRedis

ST = 3


def engine_on(redis: Redis, timeout_s: float = 5.0) -> HoldEngine:
    return HoldEngine(redis, hold_ttl_ms=60_000, max_seats=50, stream_maxlen=1000,
                      backstop_ms=1000, timeout_s=timeout_s)


@pytest.fixture
async def engine(redis_url: str) -> AsyncIterator[HoldEngine]:
    redis = Redis.from_url(redis_url)
    engine = engine_on(redis)
    yield engine
    await engine.close()
    await redis.aclose()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis("--requirepass", "s3cret")
    server.start()
    yield server
    server.stop()


async def test_concurrent_calls_each_get_their_own_reply(engine: HoldEngine) -> None:
    seats = [f"B{n}" for n in range(1, 41)]
    results = await asyncio.gather(*(engine.hold(ST, f"u{n}", [seat])
                                     for n, seat in enumerate(seats)))
    snapshot = await engine.snapshot(ST, "u7")
    assert sorted(snapshot.held) == sorted(seats)
    assert snapshot.mine == {"B8": results[7].expires_at}
    offsets = [r.offset for r in results]
    assert offsets == sorted(offsets, key=lambda o: tuple(map(int, o.split("-"))))


async def test_a_cancelled_call_does_not_shift_the_replies_of_later_ones(
        engine: HoldEngine) -> None:
    gone = asyncio.create_task(engine.hold(ST, "u1", ["C1"]))
    kept = asyncio.create_task(engine.hold(ST, "u2", ["C2"]))
    await asyncio.sleep(0)  # both written in the same batch
    gone.cancel()
    result = await kept
    snapshot = await engine.snapshot(ST, "u2")
    assert snapshot.mine == {"C2": result.expires_at}
    # The cancelled hold still ran in Redis: it was sent before the cancel.
    assert set(snapshot.held) == {"C1", "C2"}
    assert (await engine.snapshot(ST, "u1")).mine.keys() == {"C1"}


async def test_password_and_database_number_are_used(private_redis: PrivateRedis) -> None:
    url = f"redis://:s3cret@127.0.0.1:{private_redis.port}/5"
    redis = Redis.from_url(url)
    engine = engine_on(redis)
    try:
        await engine.hold(ST, "u1", ["A1"])
        assert await redis.exists(redis_keys.events(ST)) == 1
        other = Redis.from_url(url.replace("/5", "/0"))
        assert await other.dbsize() == 0
        await other.aclose()
    finally:
        await engine.close()
        await redis.aclose()


async def test_a_wrong_password_answers_unavailable(private_redis: PrivateRedis) -> None:
    redis = Redis.from_url(f"redis://:wrong@127.0.0.1:{private_redis.port}/0")
    engine = engine_on(redis)
    try:
        with pytest.raises(Unavailable):
            await engine.hold(ST, "u1", ["A1"])
    finally:
        await engine.close()
        await redis.aclose()


async def test_a_redis_that_stops_answering_is_cut_off_after_the_timeout() -> None:
    received, hung_up = asyncio.Event(), asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read(1)  # reads the hold, answers nothing
            received.set()
            await reader.read()  # until the engine hangs up
        finally:
            writer.close()
            hung_up.set()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    redis = Redis.from_url(f"redis://127.0.0.1:{port}/0")
    engine = engine_on(redis, timeout_s=0.3)
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(Unavailable):
            await engine.hold(ST, "u1", ["A1"])
        waited = asyncio.get_running_loop().time() - started
        assert received.is_set() and 0.3 <= waited < 1.5
        await asyncio.wait_for(hung_up.wait(), 5)
    finally:
        await engine.close()
        await redis.aclose()
        server.close()
        await server.wait_closed()


async def test_calls_recover_after_redis_comes_back(private_redis: PrivateRedis) -> None:
    redis = Redis.from_url(f"redis://:s3cret@127.0.0.1:{private_redis.port}/0")
    engine = engine_on(redis)
    try:
        await engine.hold(ST, "u1", ["A1"])
        private_redis.stop()
        with pytest.raises(Unavailable):
            await engine.hold(ST, "u1", ["A2"])
        private_redis.start()
        await engine.hold(ST, "u1", ["A3"])  # reconnects, loads the script again
        assert (await engine.snapshot(ST, "u1")).mine.keys() == {"A3"}
    finally:
        await engine.close()
        await redis.aclose()
