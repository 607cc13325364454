"""One admitting task per showtime: a lock with a fencing token."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from seatserver.waiting.engine import QueueEngine
from tests.waiting.conftest import KEEP_MS, ST, admitter, sale


async def test_only_the_leader_admits_and_a_stalled_one_is_fenced_off(
        queue: QueueEngine, redis: Redis) -> None:
    await queue.configure(sale(cap=1_000), KEEP_MS)
    for i in range(10):
        await queue.join(ST, f"b{i}")
    one, two = admitter(queue), admitter(QueueEngine(redis))
    one.lease_ms = 100
    assert (await one.step(ST)).holders == tuple(f"b{i}" for i in range(10))
    for i in range(10, 20):
        await queue.join(ST, f"b{i}")
    assert (await two.step(ST)).state == "not_leader"
    assert one.leading == {ST} and two.leading == set()
    # `one` stalls past its lease: `two` takes over with a higher token...
    await asyncio.sleep(0.15)
    step = await two.step(ST)
    assert step.holders == tuple(f"b{i}" for i in range(10, 20))
    assert two.leading == {ST}
    # ...and `one`, waking up, finds its token refused: it admits nothing.
    for i in range(20, 25):
        await queue.join(ST, f"b{i}")
    assert (await one.step(ST)).state == "not_leader"
    assert one.leading == set()
    assert (await two.step(ST)).holders == tuple(f"b{i}" for i in range(20, 25))


async def test_a_stopping_leader_hands_the_lock_over_at_once(queue: QueueEngine,
                                                             redis: Redis) -> None:
    await queue.configure(sale(cap=1_000), KEEP_MS)
    await queue.join(ST, "a")
    one, two = admitter(queue), admitter(QueueEngine(redis))
    async with one:
        await one.step(ST)
        assert (await two.step(ST)).state == "not_leader"
    await queue.join(ST, "b")
    assert (await two.step(ST)).holders == ("b",)
