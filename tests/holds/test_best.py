"""Best available in the hold script, as tables of cases, on the real Redis and
on fakeredis: which seats, whether together, and that they are held."""

from __future__ import annotations

import asyncio

import pytest

from seatserver.errors import SeatsUnavailable, TooManySeats
from seatserver.holds import BestRequest, HoldEngine, geometry
from seatserver.holds.geometry import ROW_WEIGHT, SCORE_SCALE, ideal_place, score
from tests.holds.conftest import EngineFactory
from tests.holds.plans import PlanSeat, plan, seat_the_picture

ST = 7
HALL = """
A oooo.oooo
B oooo.oooo
C oooo.oooo
D oooo.oooo
"""

# (picture, count, types, wheelchair spaces, seats picked or None: nothing fits, together)
BEST_CASES = [
    (HALL, 1, (), 0, ["C4"], True),  # two thirds back, nearest the centre line
    (HALL, 2, (), 0, ["C3", "C4"], True),
    (HALL, 3, (), 0, ["C2", "C3", "C4"], True),  # every block of 3 leaves one alone
    (HALL, 4, (), 0, ["C1", "C2", "C3", "C4"], True),
    (HALL, 5, (), 0, ["B4", "C1", "C2", "C3", "C4"], False),  # split over two rows
    ("A oooooo", 4, (), 0, ["A1", "A2", "A3", "A4"], True),  # A2..A5 leaves two alone
    ("A oooo", 3, (), 0, ["A1", "A2", "A3"], True),
    ("A oooooo\nB gggggg", 2, ("gold",), 0, ["B3", "B4"], True),
    ("A oooooo\nB gggggg", 2, ("gold", "std"), 0, ["B3", "B4"], True),  # B is two thirds back
    ("A oooooo", 2, ("gold",), 0, None, False),
    ("A wcoooo", 2, (), 1, ["A1", "A2"], True),  # the space with its companion
    ("A wcoooo", 3, (), 1, ["A1", "A2", "A3"], True),
    ("A wcoooo", 2, (), 0, ["A3", "A4"], True),  # neither the space nor its companion
    ("A wcoooo", 1, (), 1, ["A1"], True),
    ("A oooo", 1, (), 1, None, False),  # no wheelchair space at all
    ("A xwxoxo", 2, (), 1, ["A2", "A4"], False),  # the space and the nearest seat
    ("A xoxoxo", 2, (), 0, ["A2", "A4"], False),  # no two together anywhere
    ("A xxox", 2, (), 0, None, False),
    ("A xoox.oooo", 2, (), 0, ["A5", "A6"], True),  # nearer the centre; the pair may wait
    ("A ooox\nB oxoo", 2, (), 0, ["B3", "B4"], True),
    (HALL.replace("C oooo.oooo", "C xxxx.xxxx"), 2, (), 0, ["B3", "B4"], True),  # B before D
]


@pytest.mark.parametrize("short_list", [False, True], ids=["listed", "short-list"])
@pytest.mark.parametrize(("picture", "count", "types", "spaces", "picked", "together"),
                         BEST_CASES)
async def test_best_available_table(
        make_engine: EngineFactory, monkeypatch: pytest.MonkeyPatch, short_list: bool,
        picture: str, count: int, types: tuple[str, ...], spaces: int,
        picked: list[str] | None, together: bool) -> None:
    """With ``short_list`` the geometry lists only the best two blocks per
    size (as for a big hall), and the script scans the hall past them: the
    same picks."""
    if short_list:
        monkeypatch.setattr(geometry, "MAX_LISTED", 2)
    engine = make_engine(max_seats=10)
    drawn = plan(picture)
    await seat_the_picture(engine, ST, drawn)
    want = BestRequest(count=count, types=types, accessible=spaces)
    if picked is None:
        with pytest.raises(SeatsUnavailable):
            await engine.best(ST, "buyer", want, drawn)
        return
    result = await engine.best(ST, "buyer", want, drawn)
    assert (list(result.seats), result.together) == (picked, together)
    assert set(picked) == set((await engine.snapshot(ST, "buyer")).mine)


async def test_best_available_respects_the_holders_seat_limit(engine: HoldEngine) -> None:
    drawn = plan(HALL)
    await engine.hold(ST, "buyer", ["A1", "A2"], plan=drawn)
    with pytest.raises(TooManySeats):
        await engine.best(ST, "buyer", BestRequest(count=3), drawn)  # limit 4


async def test_best_available_respects_the_address_cap(make_engine: EngineFactory) -> None:
    engine = make_engine(per_address=3)
    drawn = plan(HALL)
    await engine.best(ST, "one", BestRequest(count=2), drawn, address="198.51.100.7")
    with pytest.raises(TooManySeats):
        await engine.best(ST, "two", BestRequest(count=2), drawn, address="198.51.100.7")


async def test_buyers_asking_at_once_never_share_a_seat(engine: HoldEngine) -> None:
    drawn = plan(HALL)
    results = await asyncio.gather(
        *(engine.best(ST, f"b{i}", BestRequest(count=2), drawn) for i in range(16)),
        return_exceptions=True)
    picked = [seat for r in results if not isinstance(r, BaseException) for seat in r.seats]
    assert len(picked) == len(set(picked)) == 32
    assert all(not isinstance(r, BaseException) and r.together for r in results)


# The score: (x, y, x*, y*) -> score
SCORE_CASES = [
    (4, 2, 4.0, 2.0, 0),
    (3, 2, 4.0, 2.0, SCORE_SCALE),
    (4, 1, 4.0, 2.0, ROW_WEIGHT * SCORE_SCALE),
    (0, 0, 4.0, 2.0, SCORE_SCALE * (4 + 2 * ROW_WEIGHT)),
    (5, 3, 4.5, 2.5, round(SCORE_SCALE * (0.5 + 0.5 * ROW_WEIGHT))),
]


@pytest.mark.parametrize(("x", "y", "ideal_x", "ideal_y", "expected"), SCORE_CASES)
def test_score_table(x: int, y: int, ideal_x: float, ideal_y: float, expected: int) -> None:
    assert score(x, y, ideal_x=ideal_x, ideal_y=ideal_y) == expected


# (seats as (x, y), screen) -> (x*, y*): two thirds back from the screen, centred
IDEAL_CASES = [
    ([(0, 0), (8, 3)], "top", (4.0, 2.0)),
    ([(0, 0), (8, 3)], "bottom", (4.0, 1.0)),
    ([(2, 5), (3, 5)], "top", (2.5, 5.0)),
    ([(0, 0), (1, 6), (9, 9)], "top", (4.5, 6.0)),
]


@pytest.mark.parametrize(("places", "screen", "expected"), IDEAL_CASES)
def test_ideal_place_table(places: list[tuple[int, int]], screen: str,
                           expected: tuple[float, float]) -> None:
    seats = [PlanSeat(f"S{i}", "std", x, y) for i, (x, y) in enumerate(places)]
    assert ideal_place(seats, screen) == pytest.approx(expected)


def test_an_equal_layout_reloaded_keeps_its_geometry_and_a_changed_one_gets_a_new_one() -> None:
    cache = geometry.GeometryCache()
    first = cache.of(ST, plan(HALL))
    assert cache.of(ST, plan(HALL)) is first  # another object, the same layout
    assert cache.of(ST, plan(HALL, no_orphans=False)).version != first.version
    assert cache.of(ST, plan(HALL.replace("D oooo", "D oo.o"))).version != first.version
