"""Presence: buyers who left the waiting room stop taking turns, and a closed
tab gives its admission back within the grace. Through the real scripts."""

from __future__ import annotations

from redis.asyncio import Redis

from seatserver import redis_keys
from seatserver.holds import HoldEngine
from seatserver.waiting.engine import PRESENCE_GRACE_MS, QueueEngine
from tests.waiting.conftest import KEEP_MS, ST, admitter, sale


async def redis_now(redis: Redis) -> int:
    seconds, micros = await redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def away_since(redis: Redis, holder: str, ms_ago: int) -> None:
    """``holder`` was last seen connected ``ms_ago`` milliseconds ago."""
    await redis.zadd(redis_keys.queue_seen(ST), {holder: await redis_now(redis) - ms_ago})


async def test_a_buyer_gone_past_the_grace_is_dropped_and_the_next_admitted_instead(
        queue: QueueEngine, redis: Redis) -> None:
    await queue.configure(sale(cap=2), KEEP_MS)
    for holder in ("gone", "here", "also-here", "later"):
        await queue.join(ST, holder)
    await away_since(redis, "gone", PRESENCE_GRACE_MS + 1000)
    await away_since(redis, "here", PRESENCE_GRACE_MS - 5000)  # away, within the grace
    step = await admitter(queue).step(ST)
    assert step.holders == ("here", "also-here")
    assert (step.left, step.active, step.waiting) == (1, 2, 1)
    status, places = await queue.status(ST, ["gone", "later"])
    assert [p.state for p in places] == ["none", "waiting"]
    assert places[1].value == 1 and status.admitted == 2
    # Back after all: at the back of the queue, like any newcomer.
    assert (await queue.join(ST, "gone")).value == 2


async def test_waiters_asked_about_are_seen_so_keep_their_turn(
        queue: QueueEngine, redis: Redis) -> None:
    await queue.configure(sale(cap=1), KEEP_MS)
    await queue.join(ST, "patient")
    await away_since(redis, "patient", PRESENCE_GRACE_MS + 1000)
    # Its instance's tick asks where it is: it is connected, so seen now.
    await queue.status(ST, ["patient"])
    assert (await admitter(queue).step(ST)).holders == ("patient",)


async def test_a_queue_of_leavers_is_cleared_over_steps_without_admitting_them(
        queue: QueueEngine, redis: Redis) -> None:
    await queue.configure(sale(cap=5), KEEP_MS)
    for i in range(1500):
        await queue.join(ST, f"gone-{i}")
    await redis.zadd(redis_keys.queue_seen(ST), dict.fromkeys(
        (f"gone-{i}" for i in range(1500)), await redis_now(redis) - 2 * PRESENCE_GRACE_MS))
    await queue.join(ST, "last")
    leader = admitter(queue)
    first = await leader.step(ST)
    assert (first.holders, first.left) == ((), 1000)  # at most 1000 looked at a step
    second = await leader.step(ST)
    assert (second.holders, second.left) == (("last",), 500)
    assert await redis.zcard(redis_keys.queue_seen(ST)) == 0


async def test_a_closed_tab_gives_back_an_unused_admission_within_the_grace(
        queue: QueueEngine, engine: HoldEngine, redis: Redis) -> None:
    await queue.configure(sale(cap=3, ttl_s=600), KEEP_MS)
    for holder in ("idle", "choosing", "waiting"):
        await queue.join(ST, holder)
    await admitter(queue).step(ST)
    await engine.hold(ST, "choosing", ["A1"])
    now = await redis_now(redis)
    ends = await queue.leave(ST, "idle")
    assert now < ends <= now + PRESENCE_GRACE_MS + 1000
    assert await redis.zscore(redis_keys.admissions(ST), "idle") == ends
    # Leaving again never makes it longer.
    assert await queue.leave(ST, "idle") <= ends
    # One holding seats (choosing, or paying) keeps its admission whole.
    kept = await redis.zscore(redis_keys.admissions(ST), "choosing")
    assert await queue.leave(ST, "choosing") == kept > now + 500_000
    # Not admitted: nothing to give back.
    assert await queue.leave(ST, "nobody") == 0


async def test_leaving_a_showtime_without_a_waiting_room_changes_nothing(
        queue: QueueEngine, redis: Redis) -> None:
    assert await queue.leave(ST, "anyone") == 0
    assert await redis.exists(redis_keys.admissions(ST)) == 0
