"""The orphan rule and companion seats inside the hold script, as tables of
cases, on the real Redis and on fakeredis."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from seatserver import redis_keys
from seatserver.errors import CompanionSeat, WouldOrphan
from seatserver.holds import HoldEngine
from seatserver.holds.geometry import build_geometry
from tests.holds.plans import plan, seat_the_picture

ST = 7

# (picture, seats the buyer asks for, the seats refused as left alone or [] for a hold)
ORPHAN_CASES = [
    ("A oooooo", ["A1"], []),
    ("A oooooo", ["A1", "A2"], []),
    ("A oooooo", ["A2"], ["A1"]),  # lone against the row end
    ("A oooooo", ["A2", "A3"], ["A1"]),
    ("A oooooo", ["A5"], ["A6"]),
    ("A oooooo", ["A2", "A5"], ["A1", "A6"]),
    ("A oooooo", ["A3"], []),  # two free on each side
    ("A ooo.ooo", ["A3"], []),  # against the aisle, two left
    ("A ooo.ooo", ["A2", "A3"], ["A1"]),
    ("A ooo.ooo", ["A5"], ["A4", "A6"]),  # lone against the aisle and the row end
    ("A xoooox", ["A3"], ["A2"]),  # lone between taken seats
    ("A xooox", ["A3"], ["A2", "A4"]),
    ("A xoox", ["A2"], []),  # unavoidable: any one of two leaves one
    ("A xoox.ooo", ["A2"], ["A3"]),  # avoidable: A5 (or A7) in the same row
    ("A xoox\nB ooo", ["A2"], []),  # another row is no alternative
    ("A xox", ["A2"], []),  # filling a lone seat
    ("A oxoooo", ["A4"], ["A3"]),  # A1 was alone before: not this hold's doing
    ("A oxoooo", ["A1"], []),
    ("A moooo", ["A3"], ["A2"]),  # the buyer's own seats count as taken
    ("A mmoooo", ["A1", "A2"], []),  # holding again what one holds
    ("A .o.", ["A1"], []),  # a seat on its own between gaps
    ("A oooooo\nB oooooo", ["A1", "B2"], ["B1"]),  # each row judged alone
    ("A oooo", ["A2", "A3"], ["A1", "A4"]),  # avoidable: A1, A2 instead
    ("A ooo", ["A2"], ["A1", "A3"]),
    ("A ooooo", ["A1", "A3"], ["A2"]),  # a party split around a lone seat
    ("A xoooxoox", ["A2", "A3"], ["A4"]),
    ("A xoooxoox", ["A6"], ["A7"]),  # A2..A4 takes one cleanly
]


@pytest.mark.parametrize(("picture", "asked", "lone"), ORPHAN_CASES)
async def test_orphan_rule_table(engine: HoldEngine, picture: str, asked: list[str],
                                 lone: list[str]) -> None:
    drawn = plan(picture)
    await seat_the_picture(engine, ST, drawn)
    if lone:
        with pytest.raises(WouldOrphan) as refused:
            await engine.hold(ST, "buyer", asked, plan=drawn)
        assert refused.value.seats == lone
        snap = await engine.snapshot(ST, "buyer")
        assert not set(asked) - set(drawn.held) & set(snap.held)  # nothing taken
    else:
        await engine.hold(ST, "buyer", asked, plan=drawn)
        assert set(asked) <= set((await engine.snapshot(ST, "buyer")).mine)


async def test_orphan_rule_off_lets_any_seat_be_held(engine: HoldEngine) -> None:
    drawn = plan("A oooooo", no_orphans=False)

    await engine.hold(ST, "buyer", ["A2"], plan=drawn)

    assert (await engine.snapshot(ST, "buyer")).mine.keys() == {"A2"}


# (picture, companions sold alone, holds in order as (holder, seats), refused seats or [])
COMPANION_CASES = [
    ("A wcoo", False, [("buyer", ["A2"])], ["A2"]),
    ("A wcoo", False, [("buyer", ["A1", "A2"])], []),
    ("A wcoo", False, [("buyer", ["A1"]), ("buyer", ["A2"])], []),
    ("A wcoo", False, [("wheel", ["A1"]), ("buyer", ["A2"])], ["A2"]),
    ("A wcoo", True, [("buyer", ["A2"])], []),
    ("A ocwco", False, [("buyer", ["A2", "A3"])], []),  # one space, two companions
    ("A ocwco", False, [("buyer", ["A3", "A4", "A2"])], []),
    ("A ocwco", False, [("buyer", ["A4", "A5"])], ["A4"]),
]


@pytest.mark.parametrize(("picture", "alone", "holds", "refused"), COMPANION_CASES)
async def test_companion_seat_table(engine: HoldEngine, picture: str, alone: bool,
                                    holds: list[tuple[str, list[str]]], refused: list[str]
                                    ) -> None:
    drawn = plan(picture, no_orphans=False, companions_alone=alone)
    *first, (holder, last) = holds
    for who, seats in first:
        await engine.hold(ST, who, seats, plan=drawn)
    if refused:
        with pytest.raises(CompanionSeat) as error:
            await engine.hold(ST, holder, last, plan=drawn)
        assert error.value.seats == refused
    else:
        await engine.hold(ST, holder, last, plan=drawn)


async def test_a_new_layout_version_replaces_the_stored_geometry(engine: HoldEngine,
                                                                 redis: Redis) -> None:
    before = plan("A ooo.ooo")
    after = plan("A oooooo")  # the aisle removed: A3, A4 now neighbours
    await engine.hold(ST, "buyer", ["A1", "A2", "A3"], plan=before)
    assert (await redis.hget(redis_keys.geometry(ST), "v")).decode() == \
        build_geometry(before).version

    with pytest.raises(WouldOrphan) as refused:
        await engine.hold(ST, "other", ["A5"], plan=after)  # A4 between A3 and A5

    assert refused.value.seats == ["A4", "A6"]
    assert (await redis.hget(redis_keys.geometry(ST), "v")).decode() == \
        build_geometry(after).version
    assert await redis.hget(redis_keys.geometry(ST), "s:A7") is None


async def test_geometry_lost_from_redis_is_written_again(engine: HoldEngine,
                                                         redis: Redis) -> None:
    drawn = plan("A oooooo")
    await engine.hold(ST, "buyer", ["A1"], plan=drawn)
    await redis.delete(redis_keys.geometry(ST))

    with pytest.raises(WouldOrphan):
        await engine.hold(ST, "other", ["A3"], plan=drawn)


async def test_checkout_recheck_names_seats_a_release_left_alone(engine: HoldEngine) -> None:
    drawn = plan("A oooooo")
    await engine.hold(ST, "other", ["A1"], plan=drawn)
    await engine.hold(ST, "buyer", ["A2", "A3"], plan=drawn)
    assert await engine.orphans(ST, ["A2", "A3"], drawn) == []

    await engine.release(ST, "other", ["A1"])

    assert await engine.orphans(ST, ["A2", "A3"], drawn) == ["A1"]
    assert await engine.orphans(ST, ["A2", "A3"], plan("A oooooo", no_orphans=False)) == []
