"""Every instance reads the sale settings from PostgreSQL every few seconds
and writes them to Redis (a flushed Redis, another instance's change). A
read that an admin change overtook must not undo the change in Redis."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from seatserver import redis_keys
from seatserver.waiting.admitter import Admitter
from seatserver.waiting.engine import QueueEngine
from seatserver.waiting.models import SaleSettings
from seatserver.waiting.store import GatedShowtime
from tests.waiting.conftest import ST, sale

KEEP = datetime.now(UTC) + timedelta(days=2)


class OvertakenSales:
    """PostgreSQL as one instance's refresh sees it: its read is answered
    with what the table held before ``meanwhile`` (another instance saving
    and applying a change) ran."""

    def __init__(self, held: SaleSettings, meanwhile: Callable[[], Awaitable[None]]) -> None:
        self.held = held
        self.meanwhile = meanwhile

    async def gated(self, *, everyone: bool = False) -> list[GatedShowtime]:
        await self.meanwhile()
        return [GatedShowtime(self.held, KEEP)]


async def cap(queue: QueueEngine) -> int:
    return (await queue.status(ST, []))[0].cap


async def test_a_refresh_overtaken_by_a_change_leaves_the_change_in_place(
        queue: QueueEngine, redis: Redis) -> None:
    other = Admitter(QueueEngine(redis), OvertakenSales(sale(cap=1), _nothing), interval_s=1)
    await other.track(sale(cap=600), KEEP)

    async def lowered() -> None:  # the operator lowers the cap on another instance
        await other.track(sale(cap=300), KEEP)

    sales = OvertakenSales(sale(cap=600), lowered)
    stale = Admitter(queue, sales, interval_s=1)
    await stale.refresh()  # the first: it knew no count before its read
    await stale.refresh()
    assert await cap(queue) == 300
    # A read nothing overtook is written: PostgreSQL is the record (here,
    # Redis lost a change whose own write failed).
    sales.held, sales.meanwhile = sale(cap=300), _nothing
    await redis.hset(redis_keys.sale(ST), "cap", "5")
    await stale.refresh()
    assert await cap(queue) == 300


async def test_a_refresh_restores_a_flushed_redis(queue: QueueEngine, redis: Redis) -> None:
    admitter = Admitter(queue, OvertakenSales(sale(cap=600), _nothing), interval_s=1)
    await admitter.track(sale(cap=600), KEEP)
    await admitter.refresh()
    await redis.flushdb()
    await admitter.refresh()
    assert await cap(queue) == 600


async def _nothing() -> None:
    pass


class Listing:
    """PostgreSQL's sale settings as one refresh reads them: what the table
    held when the read began, while ``meanwhile`` (an admin's change on this
    same instance) lands before the read returns."""

    def __init__(self, held: list[SaleSettings], meanwhile: Callable[[], Awaitable[None]]
                 ) -> None:
        self.held = held
        self.meanwhile = meanwhile

    async def gated(self, *, everyone: bool = False) -> list[GatedShowtime]:
        held = list(self.held)
        await self.meanwhile()
        return [GatedShowtime(s, KEEP) for s in held]


async def test_a_room_turned_on_here_during_a_refresh_is_served_at_once(
        queue: QueueEngine) -> None:
    """The refresh's read began before the change was committed: the room
    it missed must still be served (it was left out until the next refresh,
    5 s without admissions: seen in loaded test runs)."""
    listing = Listing([], _nothing)
    admitter = Admitter(queue, listing, interval_s=1)
    await admitter.refresh()
    assert admitter._rooms == set()

    async def turned_on() -> None:
        await admitter.track(sale(cap=1), KEEP)

    listing.meanwhile = turned_on
    await admitter.refresh()
    assert admitter.may_gate(ST) and admitter._rooms == {ST}

    # A room turned off during a read that still saw it on stays off.
    async def turned_off() -> None:
        await admitter.track(sale(cap=1, waiting_room=False), KEEP)

    listing.held, listing.meanwhile = [sale(cap=1)], turned_off
    await admitter.refresh()
    assert admitter._rooms == set()
    # The next refresh, the change committed, reads it as it is.
    listing.held, listing.meanwhile = [sale(cap=1, waiting_room=False)], _nothing
    await admitter.refresh()
    assert admitter._rooms == set()
