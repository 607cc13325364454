"""Extending holds (WCAG 2.2.1 Timing Adjustable): the extend script and the
run of holds whose limit bounds it, on the real Redis and on fakeredis."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from seatserver import redis_keys
from seatserver.errors import ExtendLimit, NothingHeld
from tests.holds.conftest import EngineFactory

ST = 7


async def entries(redis: Redis) -> list[tuple[str, str, int | None]]:
    """The stream's entries: kind, seats, deadline."""
    raw = await redis.xrange(redis_keys.events(ST))
    return [(f[b"k"].decode(), f[b"s"].decode(), int(f[b"e"]) if b"e" in f else None)
            for _, f in raw]


async def test_extend_moves_each_hold_one_hold_time_later(make_engine: EngineFactory,
                                                         redis: Redis) -> None:
    engine = make_engine(ttl_ms=60_000, hold_max_ms=300_000)
    first = await engine.hold(ST, "u1", ["A1"])
    await asyncio.sleep(0.01)
    second = await engine.hold(ST, "u1", ["A2", "A3"])
    other = await engine.hold(ST, "u2", ["B1"])

    result = await engine.extend(ST, "u1")

    assert result.deadlines == {"A1": first.expires_at + 60_000,
                                "A2": second.expires_at + 60_000,
                                "A3": second.expires_at + 60_000}
    assert result.expires_at == first.expires_at + 60_000
    assert result.limit_at == first.expires_at - 60_000 + 300_000
    snap = await engine.snapshot(ST, "u1")
    assert snap.mine == result.deadlines
    # Everyone's deadlines, as every client's snapshot now carries them.
    assert snap.expires == {**result.deadlines, "B1": other.expires_at}
    # One `hold` entry per new deadline, the last one the ack's offset.
    assert (await entries(redis))[-2:] == [
        ("hold", "A1", first.expires_at + 60_000),
        ("hold", "A2,A3", second.expires_at + 60_000)]
    assert result.offset == snap.offset and result.epoch == snap.epoch


async def test_extend_stops_at_the_limit_and_then_is_refused(make_engine: EngineFactory,
                                                             redis: Redis) -> None:
    engine = make_engine(ttl_ms=60_000)  # the limit defaults to twice the hold time
    held = await engine.hold(ST, "u1", ["A1"])
    began = held.expires_at - 60_000

    result = await engine.extend(ST, "u1")
    assert result.deadlines == {"A1": began + 120_000} == {"A1": result.limit_at}
    before = await entries(redis)

    for _ in range(3):  # replays change nothing
        with pytest.raises(ExtendLimit) as refused:
            await engine.extend(ST, "u1")
        assert refused.value.code == "extend_limit"
        assert refused.value.limit_at == began + 120_000
    assert await entries(redis) == before
    assert (await engine.snapshot(ST, "u1")).mine == {"A1": began + 120_000}


async def test_extend_caps_each_seat_at_the_limit(make_engine: EngineFactory) -> None:
    engine = make_engine(ttl_ms=60_000, hold_max_ms=90_000)
    held = await engine.hold(ST, "u1", ["A1"])
    result = await engine.extend(ST, "u1")
    assert result.deadlines == {"A1": held.expires_at + 30_000}


async def test_extend_with_nothing_held_is_refused(make_engine: EngineFactory,
                                                   redis: Redis) -> None:
    engine = make_engine()
    await engine.hold(ST, "u2", ["B1"])
    with pytest.raises(NothingHeld):
        await engine.extend(ST, "u1")
    with pytest.raises(NothingHeld):
        await engine.extend(ST + 1, "u1")  # a showtime nobody touched
    assert await entries(redis) == [("hold", "B1", (await engine.snapshot(ST)).expires["B1"])]
    assert not await redis.hexists(redis_keys.hold_runs(ST), "u1")


async def test_rehold_and_new_seats_do_not_restart_the_run(make_engine: EngineFactory) -> None:
    engine = make_engine(ttl_ms=400, hold_max_ms=600)
    first = await engine.hold(ST, "u1", ["A1"])
    began = first.expires_at - 400
    await asyncio.sleep(0.25)
    # Holding one's own seat again, and a new one, ends with the run: not 400 ms on.
    again = await engine.hold(ST, "u1", ["A1", "A2"])
    assert again.expires_at == began + 600
    with pytest.raises(ExtendLimit):
        await engine.extend(ST, "u1")


async def test_a_run_ends_when_its_last_hold_does(make_engine: EngineFactory,
                                                  redis: Redis) -> None:
    engine = make_engine(ttl_ms=200, hold_max_ms=300)
    await engine.hold(ST, "u1", ["A1", "A2"])
    await engine.release(ST, "u1", ["A1"])
    assert await redis.hexists(redis_keys.hold_runs(ST), "u1")  # A2 still held
    await asyncio.sleep(0.25)
    assert (await engine.expire(ST)).expired == 1
    assert not await redis.hexists(redis_keys.hold_runs(ST), "u1")
    # Holding again after the run ended begins a new one, with the full hold time.
    fresh = await engine.hold(ST, "u1", ["A1"])
    result = await engine.extend(ST, "u1")
    assert result.deadlines == {"A1": fresh.expires_at + 100}


async def test_extend_never_shortens_a_hold_checkout_moved_into_the_payment_window(
        make_engine: EngineFactory) -> None:
    engine = make_engine(ttl_ms=60_000)
    await engine.hold(ST, "u1", ["A1"])
    paying = await engine.hold(ST, "u1", ["A1"], ttl_ms=600_000)  # checkout's extension
    with pytest.raises(ExtendLimit):
        await engine.extend(ST, "u1")
    assert (await engine.snapshot(ST, "u1")).mine == {"A1": paying.expires_at}


async def test_checkout_extension_past_the_limit_still_works(make_engine: EngineFactory
                                                             ) -> None:
    engine = make_engine(ttl_ms=60_000)
    held = await engine.hold(ST, "u1", ["A1"])
    await engine.extend(ST, "u1")
    paying = await engine.hold(ST, "u1", ["A1"], ttl_ms=600_000)
    assert paying.expires_at > held.expires_at - 60_000 + 120_000
    assert (await engine.snapshot(ST, "u1")).mine == {"A1": paying.expires_at}


async def test_extend_leaves_other_holders_alone(make_engine: EngineFactory) -> None:
    engine = make_engine(ttl_ms=60_000)
    await engine.hold(ST, "u1", ["A1"])
    other = await engine.hold(ST, "u2", ["B1"])
    await engine.extend(ST, "u1")
    assert (await engine.snapshot(ST, "u2")).mine == {"B1": other.expires_at}


async def test_signing_in_keeps_the_guests_run(make_engine: EngineFactory) -> None:
    engine = make_engine(ttl_ms=60_000)
    guest = await engine.hold(ST, "guest", ["A1"])
    began = guest.expires_at - 60_000
    await asyncio.sleep(0.01)
    await engine.hold(ST, "account", ["A2"])  # a later run of the account's own
    assert await engine.move(ST, "guest", "account") == ["A1"]
    result = await engine.extend(ST, "account")
    # The earlier run's limit: signing in does not lengthen anyone's hold.
    assert result.limit_at == began + 120_000
    with pytest.raises(NothingHeld):
        await engine.extend(ST, "guest")


async def test_extended_holds_expire_at_their_new_deadline(make_engine: EngineFactory
                                                           ) -> None:
    engine = make_engine(ttl_ms=300)
    held = await engine.hold(ST, "u1", ["A1"])
    result = await engine.extend(ST, "u1")
    assert result.expires_at == held.expires_at + 300
    wait_s = (held.expires_at + 50) / 1000 - time.time() - engine.clock_offset_ms / 1000
    await asyncio.sleep(max(0.0, wait_s))
    assert (await engine.expire(ST)).expired == 0  # the old deadline passed: still held
    assert (await engine.expire(ST)).next_deadline == result.expires_at
    await asyncio.sleep(0.35)
    assert (await engine.expire(ST)).expired == 1
