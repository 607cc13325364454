"""The hold scripts, on the real Redis and on fakeredis."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from seatserver import redis_keys
from seatserver.errors import NotHolder, SeatsUnavailable, TooManySeats
from seatserver.holds import HoldEngine
from tests.holds.conftest import EngineFactory

ST = 7


async def events(redis: Redis, showtime: int = ST) -> list[tuple[str, str]]:
    raw = await redis.xrange(redis_keys.events(showtime))
    return [(f[b"k"].decode(), f[b"s"].decode()) for _, f in raw]


async def test_hold_takes_all_seats_and_appends_one_event(engine: HoldEngine, redis: Redis
                                                          ) -> None:
    result = await engine.hold(ST, "u1", ["A1", "A2"])
    snap = await engine.snapshot(ST, "u1")
    assert sorted(snap.held) == ["A1", "A2"]
    assert snap.mine == {"A1": result.expires_at, "A2": result.expires_at}
    assert snap.offset == result.offset
    assert await events(redis) == [("hold", "A1,A2")]


async def test_hold_refused_when_seat_already_held_and_names_it(engine: HoldEngine,
                                                                redis: Redis) -> None:
    await engine.hold(ST, "u1", ["A2"])
    with pytest.raises(SeatsUnavailable) as refused:
        await engine.hold(ST, "u2", ["A1", "A2", "A3"])
    assert refused.value.seats == ["A2"]
    snap = await engine.snapshot(ST, "u2")
    assert snap.held == ["A2"] and snap.mine == {}  # none of A1, A3 taken
    assert await events(redis) == [("hold", "A2")]


async def test_hold_refused_for_booked_seat(engine: HoldEngine, redis: Redis) -> None:
    await redis.sadd(redis_keys.booked(ST), "B1")
    with pytest.raises(SeatsUnavailable) as refused:
        await engine.hold(ST, "u1", ["B1", "B2"])
    assert refused.value.seats == ["B1"]


async def test_hold_refused_past_max_seats_per_holder(engine: HoldEngine) -> None:
    await engine.hold(ST, "u1", ["A1", "A2", "A3"])
    with pytest.raises(TooManySeats):
        await engine.hold(ST, "u1", ["A4", "A5"])
    await engine.hold(ST, "u1", ["A4"])  # exactly the limit of 4
    await engine.hold(ST, "u2", ["A5"])  # the limit is per holder


async def test_rehold_of_own_seat_extends_it(
        redis: Redis, make_engine: EngineFactory) -> None:
    engine = make_engine(ttl_ms=2000)
    first = await engine.hold(ST, "u1", ["A1"])
    await asyncio.sleep(0.05)
    again = await engine.hold(ST, "u1", ["A1", "A2"])
    assert again.expires_at > first.expires_at
    snap = await engine.snapshot(ST, "u1")
    assert snap.mine == {"A1": again.expires_at, "A2": again.expires_at}


async def test_release_only_own_seats(engine: HoldEngine, redis: Redis) -> None:
    await engine.hold(ST, "u1", ["A1", "A2"])
    with pytest.raises(NotHolder) as refused:
        await engine.release(ST, "u2", ["A1"])
    assert refused.value.seats == ["A1"]
    with pytest.raises(NotHolder):
        await engine.release(ST, "u1", ["A1", "A9"])  # all or none
    await engine.release(ST, "u1", ["A1"])
    snap = await engine.snapshot(ST, "u1")
    assert snap.held == ["A2"] and list(snap.mine) == ["A2"]
    assert await events(redis) == [("hold", "A1,A2"), ("release", "A1")]


async def test_expiry_recorded_exactly_once_under_concurrent_sweeps(
        redis: Redis, make_engine: EngineFactory) -> None:
    engine = make_engine(ttl_ms=100)
    await engine.hold(ST, "u1", ["A1", "A2"])
    await engine.hold(ST, "u2", ["A3"])
    await asyncio.sleep(0.15)
    results = await asyncio.gather(*(engine.expire(ST) for _ in range(10)))
    assert sum(r.expired for r in results) == 3
    assert all(r.next_deadline is None for r in results)
    kinds = [k for k, _ in await events(redis)]
    assert kinds.count("expire") == 1
    snap = await engine.snapshot(ST, "u1")
    assert snap.held == [] and snap.mine == {}


async def test_every_script_applies_due_expiries_first(
        redis: Redis, make_engine: EngineFactory) -> None:
    engine = make_engine(ttl_ms=100)
    await engine.hold(ST, "u1", ["A1"])
    await asyncio.sleep(0.15)
    await engine.hold(ST, "u2", ["A1"])  # no sweep ran: the hold script expires A1 first
    assert await events(redis) == [("hold", "A1"), ("expire", "A1"), ("hold", "A1")]
    assert (await engine.snapshot(ST, "u1")).mine == {}


async def test_expired_hold_cannot_be_released(
        redis: Redis, make_engine: EngineFactory) -> None:
    engine = make_engine(ttl_ms=100)
    await engine.hold(ST, "u1", ["A1"])
    await asyncio.sleep(0.15)
    with pytest.raises(NotHolder):
        await engine.release(ST, "u1", ["A1"])


async def test_expire_reports_next_deadline(
        redis: Redis, make_engine: EngineFactory) -> None:
    engine = make_engine(ttl_ms=5000)
    held = await engine.hold(ST, "u1", ["A1"])
    result = await engine.expire(ST)
    assert result.expired == 0 and result.next_deadline == held.expires_at


async def test_seat_key_ttl_is_a_backstop_beyond_the_deadline(
        redis: Redis, make_engine: EngineFactory) -> None:
    engine = make_engine(ttl_ms=10_000)
    await engine.hold(ST, "u1", ["A1"])
    pttl = await redis.pttl(redis_keys.held(ST))
    assert 10_000 < pttl <= 11_000


async def test_holder_set_forgets_seats_lost_to_the_backstop(
        redis: Redis, make_engine: EngineFactory) -> None:
    engine = make_engine(ttl_ms=60_000, max_seats=2)
    await engine.hold(ST, "u1", ["A1", "A2"])
    await redis.hdel(redis_keys.held(ST), "A1", "A2")
    await redis.delete(redis_keys.expiries(ST))
    await engine.hold(ST, "u1", ["B1", "B2"])  # the stale set does not count
    assert sorted((await engine.snapshot(ST, "u1")).mine) == ["B1", "B2"]


async def test_stream_is_trimmed_to_bounded_length(
        redis: Redis, make_engine: EngineFactory) -> None:
    engine = make_engine(max_seats=1000, maxlen=100)
    for i in range(400):
        await engine.hold(ST, "u1", [f"S{i}"])
    assert await redis.xlen(redis_keys.events(ST)) < 250


async def test_scripts_reload_after_script_flush(engine: HoldEngine, redis: Redis) -> None:
    await engine.hold(ST, "u1", ["A1"])
    await redis.script_flush()
    await engine.hold(ST, "u1", ["A2"])  # NOSCRIPT answered by loading it again
    assert sorted((await engine.snapshot(ST, "u1")).mine) == ["A1", "A2"]


async def test_no_seat_ever_has_two_holders_under_contention(
        redis: Redis, make_engine: EngineFactory) -> None:
    engine = make_engine(max_seats=10)
    seats = [f"A{i}" for i in range(10)]

    async def grab(holder: str) -> list[str]:
        won = []
        for seat in seats:
            try:
                await engine.hold(ST, holder, [seat])
                won.append(seat)
            except SeatsUnavailable:
                pass
        return won

    results = await asyncio.gather(*(grab(f"u{i}") for i in range(20)))
    winners = [seat for won in results for seat in won]
    assert sorted(winners) == sorted(seats)
