"""The hold scripts enforce the waiting room in their own step."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from seatserver import redis_keys
from seatserver.errors import NotAdmitted
from seatserver.holds import BestRequest, HoldEngine
from seatserver.waiting.engine import QueueEngine
from tests.holds.plans import plan
from tests.support import eventually
from tests.waiting.conftest import KEEP_MS, ST, admitter, sale


async def test_a_showtime_without_sale_settings_is_not_gated(engine: HoldEngine) -> None:
    assert (await engine.hold(ST, "anyone", ["A1"])).expires_at > 0


async def test_holds_need_a_live_admission_which_each_hold_renews(
        engine: HoldEngine, queue: QueueEngine, redis: Redis) -> None:
    await queue.configure(sale(cap=1), KEEP_MS)
    await queue.join(ST, "first")
    await queue.join(ST, "second")
    with pytest.raises(NotAdmitted):
        await engine.hold(ST, "first", ["A1"])
    await admitter(queue).step(ST)
    admitted_until = await redis.zscore(redis_keys.admissions(ST), "first")
    assert admitted_until is not None
    await asyncio.sleep(0.01)  # a later hold renews the admission from a later now
    await engine.hold(ST, "first", ["A1"])
    assert await redis.zscore(redis_keys.admissions(ST), "first") > admitted_until
    with pytest.raises(NotAdmitted) as refused:
        await engine.hold(ST, "second", ["A2"])
    assert refused.value.code == "not_admitted" and refused.value.opens_at == 0
    # Best available goes through the same gate.
    with pytest.raises(NotAdmitted):
        await engine.best(ST, "second", BestRequest(count=1), plan("A oooo"))
    assert (await engine.best(ST, "first", BestRequest(count=1),
                              plan("A oooo"))).seats
    # Checkout's extension of seats held already is not gated.
    await engine.hold(ST, "first", ["A1"], ttl_ms=120_000)


async def test_an_unused_admission_lapses(engine: HoldEngine, queue: QueueEngine) -> None:
    await queue.configure(sale(cap=1, ttl_s=1), KEEP_MS)
    await queue.join(ST, "idle")
    await queue.join(ST, "next")
    leader = admitter(queue)
    assert (await leader.step(ST)).holders == ("idle",)
    # The admission ends on Redis' clock (a hold would have renewed it);
    # once it has, the hold is refused and the cap frees the place.

    async def lapsed() -> bool:
        return (await queue.status(ST, ["idle"]))[1][0].state == "none"

    await eventually(lapsed, within=5)
    with pytest.raises(NotAdmitted):
        await engine.hold(ST, "idle", ["A1"])
    assert (await leader.step(ST)).holders == ("next",)
    assert (await queue.join(ST, "idle")).state == "waiting"  # back of the queue


async def test_before_the_on_sale_time_nobody_holds(engine: HoldEngine,
                                                    queue: QueueEngine) -> None:
    await queue.configure(sale(opens_in_s=3600, waiting_room=False), KEEP_MS)
    with pytest.raises(NotAdmitted) as refused:
        await engine.hold(ST, "eager", ["A1"])
    assert refused.value.opens_at > 0
    await queue.configure(sale(opens_in_s=-1, waiting_room=False), KEEP_MS)
    await engine.hold(ST, "eager", ["A1"])
    assert (await queue.join(ST, "eager")).state == "open"


async def test_turning_the_waiting_room_off_lets_everyone_hold(
        engine: HoldEngine, queue: QueueEngine) -> None:
    await queue.configure(sale(cap=1), KEEP_MS)
    with pytest.raises(NotAdmitted):
        await engine.hold(ST, "someone", ["A1"])
    await queue.configure(sale(waiting_room=False), KEEP_MS)
    await engine.hold(ST, "someone", ["A1"])
