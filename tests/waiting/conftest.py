from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from seatserver.holds import HoldEngine
from seatserver.waiting.admitter import Admitter
from seatserver.waiting.engine import QueueEngine
from seatserver.waiting.models import SaleSettings
from seatserver.waiting.store import GatedShowtime
from tests.holds import conftest as holds

ST = 7
KEEP_MS = int((datetime.now(UTC) + timedelta(days=2)).timestamp() * 1000)

redis = holds.redis  # the hold scripts' fixture: the real Redis, and fakeredis beside it


@pytest.fixture
def queue(redis: Redis) -> QueueEngine:
    return QueueEngine(redis)


@pytest.fixture
async def engine(redis: Redis) -> HoldEngine:
    made = HoldEngine(redis, hold_ttl_ms=60_000, max_seats=4, stream_maxlen=1000,
                      backstop_ms=1000)
    yield made  # type: ignore[misc]
    await made.close()


class NoSales:
    """A sale source with nothing to refresh: the tests configure Redis themselves."""

    async def gated(self, *, everyone: bool = False) -> list[GatedShowtime]:
        return []


def admitter(queue: QueueEngine) -> Admitter:
    return Admitter(queue, NoSales(), interval_s=0.05)


def sale(*, opens_in_s: float | None = None, rate: int = 0, cap: int = 1_000_000,
         ttl_s: int = 600, waiting_room: bool = True, showtime: int = ST) -> SaleSettings:
    at = None if opens_in_s is None else datetime.now(UTC) + timedelta(seconds=opens_in_s)
    return SaleSettings(showtime, at, waiting_room, rate, cap, ttl_s)
