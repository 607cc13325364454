"""Blocked seats (house seats, press, broken) in the hold scripts, as tables of
cases, on the real Redis and on fakeredis: never held online, skipped by best
available, counted taken by the orphan rule, and blocking refuses seats that
are held or sold."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from seatserver import redis_keys
from seatserver.errors import SeatBlocked, SeatsUnavailable, WouldOrphan
from seatserver.holds import BestRequest, HoldEngine
from tests.holds.conftest import EngineFactory
from tests.holds.plans import plan, seat_the_picture

ST = 7


async def _kinds(redis: Redis) -> list[str]:
    entries = await redis.xrange(redis_keys.events(ST))
    return [fields[b"k"].decode() for _, fields in entries]


# (picture, seats asked, the seats refused as blocked or [] for a hold)
HOLD_CASES = [
    ("A oboo", ["A2"], ["A2"]),
    ("A oboo", ["A1", "A2", "A3"], ["A2"]),  # all or none: the blocked one named
    ("A bbob", ["A1", "A2", "A3", "A4"], ["A1", "A2", "A4"]),
    ("A oboo", ["A3", "A4"], []),
    ("A bxoo", ["A1", "A2"], ["A1"]),  # blocked is named before held
]


@pytest.mark.parametrize(("picture", "asked", "refused"), HOLD_CASES)
async def test_hold_refuses_blocked_seats_table(make_engine: EngineFactory, picture: str,
                                                asked: list[str], refused: list[str]) -> None:
    engine = make_engine(max_seats=10)
    drawn = plan(picture, no_orphans=False)
    await seat_the_picture(engine, ST, drawn)
    if refused:
        with pytest.raises(SeatBlocked) as err:
            await engine.hold(ST, "buyer", asked, plan=drawn)
        assert err.value.seats == refused and err.value.code == "seat_blocked"
        assert (await engine.snapshot(ST, "buyer")).mine == {}
    else:
        await engine.hold(ST, "buyer", asked, plan=drawn)
        assert sorted((await engine.snapshot(ST, "buyer")).mine) == asked


# (picture, seats asked, the seats refused as left alone)
ORPHAN_CASES = [
    ("A booooo", ["A3"], ["A2"]),  # a free seat between a blocked one and the hold
    ("A booooo", ["A2"], []),
    ("A oboooo", ["A3", "A4"], []),  # A1 was alone already: not this hold's doing
    ("A ooobooo", ["A2"], ["A1", "A3"]),
]


@pytest.mark.parametrize(("picture", "asked", "lone"), ORPHAN_CASES)
async def test_orphan_rule_counts_blocked_seats_taken_table(
        engine: HoldEngine, picture: str, asked: list[str], lone: list[str]) -> None:
    drawn = plan(picture)
    await seat_the_picture(engine, ST, drawn)
    if lone:
        with pytest.raises(WouldOrphan) as refused:
            await engine.hold(ST, "buyer", asked, plan=drawn)
        assert refused.value.seats == lone
    else:
        await engine.hold(ST, "buyer", asked, plan=drawn)


# (picture, count, seats picked or None: nothing fits)
BEST_CASES = [
    ("A oooo", 2, ["A1", "A2"]),
    ("A bboo", 2, ["A3", "A4"]),
    ("A obbo", 2, ["A1", "A4"]),  # apart: no two together that are for sale
    ("A bbbo", 2, None),
    ("A bbbb", 1, None),
    ("A oooooo\nB bbbbbb\nC oooooo", 3, ["C1", "C2", "C3"]),  # C leaves none alone
]


@pytest.mark.parametrize(("picture", "count", "picked"), BEST_CASES)
async def test_best_available_skips_blocked_seats_table(
        make_engine: EngineFactory, picture: str, count: int, picked: list[str] | None) -> None:
    engine = make_engine(max_seats=10)
    drawn = plan(picture)
    await seat_the_picture(engine, ST, drawn)
    want = BestRequest(count=count)
    if picked is None:
        with pytest.raises(SeatsUnavailable):
            await engine.best(ST, "buyer", want, drawn)
        return
    result = await engine.best(ST, "buyer", want, drawn)
    assert sorted(result.seats) == picked
    assert not set(result.seats) & set(drawn.blocked)


async def test_block_refuses_held_or_booked_seats_and_changes_nothing(
        engine: HoldEngine, redis: Redis) -> None:
    await engine.hold(ST, "u1", ["A1"])
    await engine.hold(ST, "u2", ["A2"])
    await engine.book(ST, "u2", "REF0000001", ["A2"])
    with pytest.raises(SeatsUnavailable) as refused:
        await engine.block(ST, ["A1", "A2", "A3"])
    assert refused.value.seats == ["A1", "A2"]
    assert "A1" in refused.value.message and "A2" in refused.value.message
    assert (await engine.snapshot(ST)).blocked == []
    assert await _kinds(redis) == ["hold", "hold", "book"]


async def test_block_and_unblock_append_one_event_each_and_are_idempotent(
        engine: HoldEngine, redis: Redis) -> None:
    first = await engine.block(ST, ["A1", "A2"])
    assert sorted(first.seats) == ["A1", "A2"] and first.offset
    again = await engine.block(ST, ["A1", "A2"])
    assert again.seats == [] and again.offset == ""
    snap = await engine.snapshot(ST)
    assert sorted(snap.blocked) == ["A1", "A2"] and snap.held == [] and snap.booked == []
    gone = await engine.unblock(ST, ["A1", "A3"])
    assert gone.seats == ["A1"]
    assert (await engine.unblock(ST, ["A1"])).offset == ""
    assert (await engine.snapshot(ST)).blocked == ["A2"]
    assert await _kinds(redis) == ["block", "unblock"]
    await engine.hold(ST, "buyer", ["A1"])  # for sale online again


async def test_forced_block_drops_online_holds_but_leaves_booked_seats(
        engine: HoldEngine, redis: Redis) -> None:
    await engine.hold(ST, "u1", ["A1"])
    await engine.hold(ST, "u2", ["A2"])
    await engine.book(ST, "u2", "REF0000001", ["A2"])
    change = await engine.block(ST, ["A1", "A2"], force=True)
    assert change.seats == ["A1"]
    snap = await engine.snapshot(ST, "u1")
    assert snap.blocked == ["A1"] and snap.mine == {} and snap.booked == ["A2"]
    assert await _kinds(redis) == ["hold", "hold", "book", "release", "block"]


async def test_booking_a_blocked_seat_at_the_counter_unblocks_it(engine: HoldEngine) -> None:
    await engine.block(ST, ["A1"])
    await engine.book(ST, "staff", "REF0000001", ["A1"], force=True)
    snap = await engine.snapshot(ST)
    assert snap.blocked == [] and snap.booked == ["A1"]


async def test_no_blocked_seat_is_ever_held_while_buyers_race_a_block(
        make_engine: EngineFactory) -> None:
    """Buyers hold and release seats as fast as they can while the admin
    blocks them one by one: every block either wins (and then nobody holds
    the seat) or is refused naming a seat held at that moment."""
    engine = make_engine(max_seats=10)
    seats = [f"A{n}" for n in range(1, 21)]
    stop = asyncio.Event()

    async def buyer(name: str) -> None:
        while not stop.is_set():
            for seat in seats:
                try:
                    await engine.hold(ST, name, [seat])
                    await engine.release(ST, name, [seat])
                except SeatBlocked as err:
                    assert err.seats == [seat]
                except SeatsUnavailable:
                    pass

    buyers = [asyncio.create_task(buyer(f"b{i}")) for i in range(4)]
    blocked: set[str] = set()
    try:
        for _ in range(200):
            for seat in seats:
                if seat in blocked:
                    continue
                try:
                    await engine.block(ST, [seat])
                except SeatsUnavailable:
                    continue
                blocked.add(seat)
                snap = await engine.snapshot(ST)
                assert not set(snap.held) & blocked
            if len(blocked) == len(seats):
                break
            await asyncio.sleep(0)
    finally:
        stop.set()
        await asyncio.gather(*buyers)
    snap = await engine.snapshot(ST)
    assert sorted(snap.blocked) == sorted(blocked)
    assert not set(snap.held) & blocked
