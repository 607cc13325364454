"""book, cancel and reserve scripts: seat state and its stream entry change together."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from seatserver import redis_keys
from seatserver.errors import SeatsUnavailable
from seatserver.holds import HoldEngine
from tests.holds.conftest import EngineFactory

ST = 7


async def _kinds(redis: Redis) -> list[str]:
    entries = await redis.xrange(redis_keys.events(ST))
    return [fields[b"k"].decode() for _, fields in entries]


async def test_book_turns_own_holds_into_booked_seats_with_one_event(
        engine: HoldEngine, redis: Redis) -> None:
    await engine.hold(ST, "u1", ["A1", "A2"])
    change = await engine.book(ST, "u1", "REF0000001", ["A1", "A2"])
    assert sorted(change.seats) == ["A1", "A2"] and change.offset
    snap = await engine.snapshot(ST, "u1")
    assert sorted(snap.booked) == ["A1", "A2"] and snap.held == [] and snap.mine == {}
    assert await _kinds(redis) == ["hold", "book"]


async def test_book_twice_by_same_booking_changes_nothing(engine: HoldEngine,
                                                          redis: Redis) -> None:
    await engine.hold(ST, "u1", ["A1"])
    await engine.book(ST, "u1", "REF0000001", ["A1"])
    again = await engine.book(ST, "u1", "REF0000001", ["A1"])
    assert again.seats == [] and again.offset == ""
    assert await _kinds(redis) == ["hold", "book"]


async def test_strict_book_refuses_seats_held_by_someone_else_or_free(
        engine: HoldEngine) -> None:
    await engine.hold(ST, "u2", ["A1"])
    with pytest.raises(SeatsUnavailable) as refused:
        await engine.book(ST, "u1", "REF0000001", ["A1", "A2"])
    assert sorted(refused.value.seats) == ["A1", "A2"]


async def test_forced_book_takes_over_holds_but_not_another_bookings_seat(
        engine: HoldEngine) -> None:
    await engine.hold(ST, "u2", ["A1"])
    await engine.book(ST, "u1", "REF0000001", ["A1", "A2"], force=True)
    snap = await engine.snapshot(ST, "u2")
    assert sorted(snap.booked) == ["A1", "A2"] and snap.mine == {}
    with pytest.raises(SeatsUnavailable):
        await engine.book(ST, "u3", "REF0000002", ["A1"], force=True)


async def test_cancel_frees_only_this_bookings_seats_and_appends_cancel(
        engine: HoldEngine, redis: Redis) -> None:
    await engine.book(ST, "u1", "REF0000001", ["A1"], force=True)
    await engine.book(ST, "u2", "REF0000002", ["A2"], force=True)
    change = await engine.free(ST, "u1", "REF0000001", ["A1", "A2"], kind="cancel")
    assert change.seats == ["A1"]
    assert (await engine.snapshot(ST)).booked == ["A2"]
    assert (await _kinds(redis))[-1] == "cancel"
    assert (await engine.free(ST, "u1", "REF0000001", ["A1"], kind="cancel")).seats == []


async def test_release_kind_frees_the_holders_pending_holds(engine: HoldEngine,
                                                            redis: Redis) -> None:
    await engine.hold(ST, "u1", ["A1", "A2"])
    await engine.hold(ST, "u2", ["A3"])
    change = await engine.free(ST, "u1", "REF0000001", ["A1", "A2", "A3"], kind="release")
    assert sorted(change.seats) == ["A1", "A2"]
    assert (await engine.snapshot(ST)).held == ["A3"]
    assert (await _kinds(redis))[-1] == "release"


async def test_hold_with_ttl_extends_own_holds(engine: HoldEngine) -> None:
    first = await engine.hold(ST, "u1", ["A1"])
    longer = await engine.hold(ST, "u1", ["A1"], ttl_ms=600_000)
    assert longer.expires_at - first.expires_at > 500_000


async def test_reserve_holds_a_pending_bookings_seats_for_its_buyer_until_the_deadline(
        engine: HoldEngine, redis: Redis) -> None:
    now_ms = int(time.time() * 1000)
    deadline = now_ms + 300_000
    await engine.hold(ST, "rival", ["A1"])
    await engine.book(ST, "u9", "REF0000009", ["A3"], force=True)
    change = await engine.reserve(ST, "u1", ["A1", "A2", "A3"], deadline)
    assert sorted(change.seats) == ["A1", "A2"] and change.offset
    snap = await engine.snapshot(ST, "u1")
    assert snap.mine == {"A1": deadline, "A2": deadline}  # the rival lost A1
    assert (await engine.snapshot(ST, "rival")).mine == {}
    assert snap.booked == ["A3"]  # left to the booking that has it
    assert await _kinds(redis) == ["hold", "book", "release", "hold"]
    # Idempotent: the same reservation again changes and appends nothing.
    again = await engine.reserve(ST, "u1", ["A1", "A2", "A3"], deadline)
    assert (again.seats, again.offset) == ([], "")
    assert len(await _kinds(redis)) == 4


async def test_reserve_with_a_past_deadline_reserves_nothing(engine: HoldEngine) -> None:
    change = await engine.reserve(ST, "u1", ["A1"], int(time.time() * 1000) - 1)
    assert change.seats == [] and (await engine.snapshot(ST)).held == []


async def test_expired_holds_are_remembered_as_lapsed_until_held_again(
        redis: Redis, make_engine: EngineFactory) -> None:
    engine = make_engine(ttl_ms=100)
    await engine.hold(ST, "u1", ["A1", "A2"])
    await engine.hold(ST, "u2", ["A3"])
    await asyncio.sleep(0.15)
    await engine.expire(ST)
    assert await engine.lapsed(ST, "u1") == {"A1", "A2"}
    assert await engine.lapsed(ST, "u2") == {"A3"}
    assert 3_500_000 < await redis.pttl(redis_keys.lapsed(ST)) <= 3_600_000
    await engine.hold(ST, "u1", ["A1"], ttl_ms=60_000)
    assert await engine.lapsed(ST, "u1") == {"A2"}
    await engine.release(ST, "u1", ["A1"])  # let go on purpose: not lapsed
    assert await engine.lapsed(ST, "u1") == {"A2"}
    await engine.hold(ST, "u3", ["A2"], ttl_ms=60_000)  # someone else's hold
    assert await engine.lapsed(ST, "u1") == {"A2"}  # u1's hold still ran out
