"""move.lua: a guest's holds handed to the account it logs in to, on the real
Redis and on fakeredis."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from seatserver import redis_keys
from seatserver.errors import NotHolder
from seatserver.holds import HoldEngine
from tests.holds.conftest import EngineFactory

ST = 11


async def stream_length(redis: Redis) -> int:
    length: int = await redis.xlen(redis_keys.events(ST))
    return length


async def test_move_hands_every_seat_over_with_its_deadline(engine: HoldEngine,
                                                            redis: Redis) -> None:
    first = await engine.hold(ST, "guest", ["A1", "A2"])
    await asyncio.sleep(0.01)
    later = await engine.hold(ST, "guest", ["A3"])
    ttl_before = await redis.pttl(redis_keys.held(ST))
    events_before = await stream_length(redis)

    moved = await engine.move(ST, "guest", "account")

    assert sorted(moved) == ["A1", "A2", "A3"]
    snap = await engine.snapshot(ST, "account")
    assert snap.mine == {"A1": first.expires_at, "A2": first.expires_at,
                         "A3": later.expires_at}
    assert (await engine.snapshot(ST, "guest")).mine == {}
    assert await redis.hget(redis_keys.held(ST), "A1") == b"account"
    assert 0 < ttl_before - await redis.pttl(redis_keys.held(ST)) < 1000
    # Nothing anyone sees changed: no event.
    assert await stream_length(redis) == events_before
    assert snap.offset == later.offset


async def test_move_leaves_other_holders_seats_and_adds_to_the_accounts_own(
        engine: HoldEngine) -> None:
    await engine.hold(ST, "guest", ["B1"])
    await engine.hold(ST, "account", ["B2"])
    await engine.hold(ST, "stranger", ["B3"])

    await engine.move(ST, "guest", "account")

    assert sorted((await engine.snapshot(ST, "account")).mine) == ["B1", "B2"]
    assert sorted((await engine.snapshot(ST, "stranger")).mine) == ["B3"]


async def test_moved_seats_are_the_new_holders_to_release_not_the_old(
        engine: HoldEngine) -> None:
    await engine.hold(ST, "guest", ["C1", "C2"])
    await engine.move(ST, "guest", "account")

    with pytest.raises(NotHolder):
        await engine.release(ST, "guest", ["C1"])
    await engine.release(ST, "account", ["C1"])

    assert list((await engine.snapshot(ST, "account")).mine) == ["C2"]


async def test_move_twice_moves_nothing_the_second_time(engine: HoldEngine) -> None:
    await engine.hold(ST, "guest", ["D1"])

    assert await engine.move(ST, "guest", "account") == ["D1"]
    assert await engine.move(ST, "guest", "account") == []
    assert await engine.move(ST, "account", "account") == []
    assert list((await engine.snapshot(ST, "account")).mine) == ["D1"]


async def test_moved_holds_still_expire_at_their_deadline(make_engine: EngineFactory) -> None:
    engine = make_engine(ttl_ms=300)
    await engine.hold(ST, "guest", ["E1"])
    await engine.move(ST, "guest", "account")

    await asyncio.sleep(0.4)
    expired = await engine.expire(ST)

    assert expired.expired == 1
    snap = await engine.snapshot(ST, "account")
    assert (snap.held, snap.mine) == ([], {})


async def test_the_accounts_seat_set_lives_as_long_as_the_longest_hold_moved(
        make_engine: EngineFactory, redis: Redis) -> None:
    engine = make_engine(ttl_ms=60_000)
    short = make_engine(ttl_ms=2_000)
    await short.hold(ST, "account", ["F1"])
    await engine.hold(ST, "guest", ["F2"])

    await engine.move(ST, "guest", "account")

    assert await redis.pttl(redis_keys.mine(ST)) > 50_000


async def test_the_holder_index_names_the_showtimes_noted(engine: HoldEngine,
                                                          redis: Redis) -> None:
    await engine.note_holding("guest", 3)
    await engine.note_holding("guest", 12)
    await engine.note_holding("guest", 3)

    assert await engine.showtimes_of("guest") == [3, 12]
    assert await engine.showtimes_of("nobody") == []
    ttl = await redis.pttl(redis_keys.holder_showtimes("guest"))
    assert ttl > 2 * 60_000  # hold time + its longest extension + backstop


async def test_holds_that_lapsed_for_the_guest_have_lapsed_for_the_account(
        make_engine: EngineFactory) -> None:
    short = make_engine(ttl_ms=200)
    await short.hold(ST, "guest", ["G1"])
    await short.hold(ST, "account", ["G2"])
    await asyncio.sleep(0.3)
    await short.expire(ST)
    engine = make_engine()
    await engine.hold(ST, "guest", ["G3"])

    await engine.move(ST, "guest", "account")

    assert await engine.lapsed(ST, "account") == {"G1", "G2"}
    assert await engine.lapsed(ST, "guest") == set()
    assert list((await engine.snapshot(ST, "account")).mine) == ["G3"]
