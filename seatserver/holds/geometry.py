"""A showtime's seat geometry as the seating scripts read it in Redis.

The orphan rule and best available run inside the hold scripts (one atomic
step with the holds they judge), so what they need of the layout lives in the
showtime's hash slot too: ``geo:{st:<id>}`` (redis_keys.geometry), a hash
written by holds/lua/geometry.lua from what ``build_geometry`` makes here:

  v           the version: a digest of everything below, so a layout edit or
              a change of the showtime's rules is a new version that replaces
              the old one (a script handed another version answers
              ``geometry`` and the engine writes this one, then asks again)
  o, c        the showtime's rules: '1' orphan rule on / companion seats sold
              to anyone ('0': off / only with their wheelchair space)
  s:<seat>    "<row>;<l2>,<l1>;<r1>,<r2>;<space>": the seat's row index, the
              two seats left and right of it in its run ('' past the run's
              end) and, for a companion seat, the wheelchair space it
              accompanies ("3;C1,C2;C4,C5;" or "1;,;A2,A3;")
  r:<row>     the row's runs, left to right: seats between two aisles, gaps
              or row ends, in order, "A1,A2,A3|A4,A5" (ids never hold ',' or '|')
  g           JSON for best available: every seat's place, type, accessible
              flag, companion link and score, the runs and the rows
  b:<n>       best available's short cut for parties of n (1..MAX_BLOCK) without
              wheelchair spaces: the blocks of n neighbouring seats of a run that
              have no wheelchair space, best first (by cost, then front-most,
              left-most), at most MAX_LISTED of them and then "..." when there
              are more (the script then scans the hall when none of these will
              do), space-separated, each "<row>.<run>.<start>.<companions>.<types>":
              where it is (the row's index as in r:<row>, its run's in the row
              and its first seat's in the run, all from 1), 1 if it holds a
              companion seat, and its seat types as a number n: the n-th of t.
              The script reads the runs of the first few blocks only, each one
              whole, and parses no seat ids but theirs
  t           the blocks' sets of seat types, space-separated, each '/'-joined

Rows are ordered front (nearest the screen) to back; a run breaks wherever
two seats of a row are not in neighbouring grid cells.

The score (lower is better) is the distance of a seat from the best place of
the hall: two thirds of the way back from the screen and on the centre line,
``SCORE_SCALE * (ROW_WEIGHT * |y - y*| + |x - x*|)`` rounded, in grid cells,
where y* is two thirds of the depth from the row nearest the screen and x*
the middle of the seats' horizontal extent. A row off the ideal counts as
much as ``ROW_WEIGHT`` seats off the centre: looking up or craning back is
worse than sitting a little to the side.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

import orjson

ROW_WEIGHT = 2
SCORE_SCALE = 10
# The largest party best available's short cut lists blocks for (more: the
# full scan).
MAX_BLOCK = 12
# Blocks listed per party size: enough for a hall that is far from full.
MAX_LISTED = 200
# Geometries kept per process (one per showtime in use).
MAX_CACHED = 10_000


class SeatPlace(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def x(self) -> int: ...
    @property
    def y(self) -> int: ...
    @property
    def accessible(self) -> bool: ...
    @property
    def companion_of(self) -> str | None: ...


class SeatingPlan(Protocol):
    """A showtime's layout and its seating rules, as the catalog serves them."""

    @property
    def seats(self) -> Mapping[str, SeatPlace]: ...
    @property
    def screen(self) -> str: ...
    @property
    def no_orphans(self) -> bool: ...
    @property
    def companions_alone(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Geometry:
    """What geometry.lua writes; ``checks`` tells whether a plain hold needs it
    at all (the orphan rule is on, or companion seats are kept back)."""

    version: str
    fields: dict[str, str]
    checks: bool
    # The seat types of the layout (what best available may ask for).
    types: frozenset[str] = frozenset()


def score(x: int, y: int, *, ideal_x: float, ideal_y: float) -> int:
    """A seat's distance from the best place of the hall (lower is better)."""
    return round(SCORE_SCALE * (ROW_WEIGHT * abs(y - ideal_y) + abs(x - ideal_x)))


def ideal_place(seats: Iterable[SeatPlace], screen: str) -> tuple[float, float]:
    """(x*, y*): the centre line, and two thirds of the depth back from the screen."""
    xs = [s.x for s in seats]
    ys = [s.y for s in seats] if xs else []
    if not xs:
        return 0.0, 0.0
    near, far = (min(ys), max(ys)) if screen != "bottom" else (max(ys), min(ys))
    return (min(xs) + max(xs)) / 2, near + (far - near) * 2 / 3


def runs_of(row: list[SeatPlace]) -> list[list[SeatPlace]]:
    """A row's seats (sorted by x) split wherever two are not neighbours."""
    runs: list[list[SeatPlace]] = []
    for seat in row:
        if runs and seat.x == runs[-1][-1].x + 1:
            runs[-1].append(seat)
        else:
            runs.append([seat])
    return runs


def build_geometry(plan: SeatingPlan) -> Geometry:
    seats = list(plan.seats.values())
    ideal_x, ideal_y = ideal_place(seats, plan.screen)
    by_y: dict[int, list[SeatPlace]] = {}
    for seat in seats:
        by_y.setdefault(seat.y, []).append(seat)
    order = sorted(by_y, reverse=plan.screen == "bottom")  # front row first
    fields: dict[str, str] = {"o": "1" if plan.no_orphans else "0",
                              "c": "1" if plan.companions_alone else "0"}
    index: dict[str, int] = {}
    placed: list[list[object]] = []
    rows: list[list[list[int]]] = []
    for row_no, y in enumerate(order, 1):
        runs = runs_of(sorted(by_y[y], key=lambda s: s.x))
        fields[f"r:{row_no}"] = "|".join(",".join(s.id for s in run) for run in runs)
        row_runs = []
        for run in runs:
            ids = []
            for at, seat in enumerate(run):
                index[seat.id] = len(placed) + 1
                placed.append([seat.id, seat.type, 1 if seat.accessible else 0, seat.companion_of,
                               score(seat.x, seat.y, ideal_x=ideal_x, ideal_y=ideal_y),
                               seat.x, row_no])
                ids.append(index[seat.id])
                near = [run[i].id if 0 <= i < len(run) else ""
                        for i in (at - 2, at - 1, at + 1, at + 2)]
                fields[f"s:{seat.id}"] = (f"{row_no};{near[0]},{near[1]};{near[2]},{near[3]};"
                                          f"{seat.companion_of or ''}")
            row_runs.append(ids)
        rows.append(row_runs)
    for entry in placed:  # companion links as seat indexes (0: none)
        entry[3] = index.get(str(entry[3]), 0) if entry[3] else 0
    type_sets: dict[str, int] = {}
    for size in range(1, MAX_BLOCK + 1):
        fields[f"b:{size}"] = " ".join(_blocks(rows, placed, size, type_sets))
    fields["t"] = " ".join(type_sets)
    fields["g"] = orjson.dumps({"seats": placed, "rows": rows}).decode()
    digest = hashlib.sha256(orjson.dumps(sorted(fields.items()))).hexdigest()[:16]
    companions = any(s.companion_of for s in seats)
    checks = plan.no_orphans or (companions and not plan.companions_alone)
    return Geometry(version=digest, fields=fields, checks=checks,
                    types=frozenset(s.type for s in seats))


def _blocks(rows: list[list[list[int]]], placed: list[list[object]], size: int,
            type_sets: dict[str, int]) -> list[str]:
    """The best MAX_LISTED blocks of ``size`` seats of a run without a wheelchair
    space, best first, and "..." after them when there are more. ``type_sets``
    numbers the blocks' sets of seat types (from 1), new ones added."""
    scores = [int(str(seat[4])) for seat in placed]
    spaces = [int(str(seat[2])) for seat in placed]
    found: list[tuple[int, int, int, int, int]] = []
    for row_no, row in enumerate(rows, 1):
        for run_no, run in enumerate(row, 1):
            # Running sums: each block's cost and wheelchair spaces in O(1).
            cost, held = [0], [0]
            for i in run:
                cost.append(cost[-1] + scores[i - 1])
                held.append(held[-1] + spaces[i - 1])
            for a in range(len(run) - size + 1):
                if held[a + size] == held[a]:
                    # Ties: the front-most, left-most first (seat indexes go
                    # row by row, left to right).
                    found.append((cost[a + size] - cost[a], run[a], row_no, run_no, a))
    entries = []
    for _, _, row_no, run_no, a in heapq.nsmallest(MAX_LISTED, found):
        seats = [placed[i - 1] for i in rows[row_no - 1][run_no - 1][a:a + size]]
        types = "/".join(sorted({str(seat[1]) for seat in seats}))
        number = type_sets.setdefault(types, len(type_sets) + 1)
        companions = "1" if any(seat[3] for seat in seats) else "0"
        entries.append(f"{row_no}.{run_no}.{a + 1}.{companions}.{number}")
    if len(found) > MAX_LISTED:
        entries.append("...")
    return entries


def fingerprint(plan: SeatingPlan) -> int:
    """What the geometry is made of, cheaply: equal plans, equal fingerprints."""
    return hash((plan.screen, plan.no_orphans, plan.companions_alone,
                 tuple((s.id, s.type, s.x, s.y, s.accessible, s.companion_of)
                       for s in plan.seats.values())))


class GeometryCache:
    """Each showtime's geometry, built again only when its layout or rules
    change: the catalog hands out a new layout object every time its cache
    reloads one, mostly unchanged, and a big hall takes tens of ms to build."""

    def __init__(self) -> None:
        self._built: dict[int, tuple[SeatingPlan, int, Geometry]] = {}

    def of(self, showtime: int, plan: SeatingPlan) -> Geometry:
        entry = self._built.get(showtime)
        if entry is not None and entry[0] is plan:
            return entry[2]
        mark = fingerprint(plan)
        same = entry is not None and entry[1] == mark
        geometry = entry[2] if entry is not None and same else build_geometry(plan)
        if len(self._built) >= MAX_CACHED:
            self._built.clear()
        self._built[showtime] = (plan, mark, geometry)
        return geometry
