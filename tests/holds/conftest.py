from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import fakeredis
import pytest
from redis.asyncio import Redis

from seatserver.holds import HoldEngine

EngineFactory = Callable[..., HoldEngine]


@pytest.fixture(params=["redis", "fakeredis"])
async def redis(request: pytest.FixtureRequest) -> AsyncIterator[Redis]:
    """The real Redis always; fakeredis beside it for quick checks of the scripts."""
    if request.param == "redis":
        client = Redis.from_url(request.getfixturevalue("redis_url"))
    else:
        client = fakeredis.FakeAsyncRedis()
    yield client
    await client.aclose()


@pytest.fixture
async def make_engine(redis: Redis) -> AsyncIterator[EngineFactory]:
    """Engines on ``redis``, closed (their script connection too) after the test."""
    made: list[HoldEngine] = []

    def make(ttl_ms: int = 60_000, max_seats: int = 4, maxlen: int = 1000,
             per_address: int = 0, hold_max_ms: int | None = None) -> HoldEngine:
        engine = HoldEngine(redis, hold_ttl_ms=ttl_ms, max_seats=max_seats,
                            stream_maxlen=maxlen, backstop_ms=1000,
                            max_seats_per_address=per_address, hold_max_ms=hold_max_ms)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        await engine.close()


@pytest.fixture
def engine(make_engine: EngineFactory) -> HoldEngine:
    return make_engine()
