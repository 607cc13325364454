from __future__ import annotations

from collections.abc import AsyncIterator

import fakeredis
import pytest
from redis.asyncio import Redis

from seatserver.holds import HoldEngine


@pytest.fixture(params=["redis", "fakeredis"])
async def redis(request: pytest.FixtureRequest) -> AsyncIterator[Redis]:
    """The real Redis always; fakeredis beside it for quick checks of the scripts."""
    if request.param == "redis":
        client = Redis.from_url(request.getfixturevalue("redis_url"))
    else:
        client = fakeredis.FakeAsyncRedis()
    yield client
    await client.aclose()


def make_engine(redis: Redis, ttl_ms: int = 60_000, max_seats: int = 4,
                maxlen: int = 1000) -> HoldEngine:
    return HoldEngine(redis, hold_ttl_ms=ttl_ms, max_seats=max_seats,
                      stream_maxlen=maxlen, backstop_ms=1000)


@pytest.fixture
def engine(redis: Redis) -> HoldEngine:
    return make_engine(redis)
