"""An independent check of best-available picks, replayed from the event stream.

Given the layout (as ``GET /api/showtimes/{id}`` lists it) and the stream's
hold events in order, each best-available grant is judged against the seats
free just before it: a group split only when no run had that many
neighbouring free seats, and a block leaving a lone seat only when no block
left none. Written apart from the Lua it checks, from the documented rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Grant:
    offset: str
    seats: list[str]
    together: bool


def runs_of(seats: Iterable[dict[str, Any]]) -> list[list[str]]:
    """Each row's seats split where two are not neighbouring grid cells."""
    rows: dict[int, list[dict[str, Any]]] = {}
    for seat in seats:
        rows.setdefault(seat["y"], []).append(seat)
    runs: list[list[str]] = []
    for y in sorted(rows):
        last_x = None
        for seat in sorted(rows[y], key=lambda s: s["x"]):
            if last_x is None or seat["x"] != last_x + 1:
                runs.append([])
            runs[-1].append(seat["id"])
            last_x = seat["x"]
    return runs


def _blocks(run: list[str], count: int, taken: set[str], eligible: set[str]
            ) -> Iterable[tuple[int, bool]]:
    """Start index and 'leaves a lone seat' of every free eligible block."""
    for a in range(len(run) - count + 1):
        if all(s in eligible and s not in taken for s in run[a:a + count]):
            yield a, _leaves_lone(run, a, a + count - 1, taken)


def _leaves_lone(run: list[str], first: int, last: int, taken: set[str]) -> bool:
    def lone(i: int, beyond: int) -> bool:
        if not 0 <= i < len(run) or run[i] in taken:
            return False
        return not 0 <= beyond < len(run) or run[beyond] in taken
    return lone(first - 1, first - 2) or lone(last + 1, last + 2)


def judge(runs: list[list[str]], eligible: set[str], events: list[tuple[str, list[str]]],
          grants: dict[str, Grant]) -> list[str]:
    """Replay hold events (offset, seats) in order; the faults of best grants."""
    taken: set[str] = set()
    faults: list[str] = []
    for offset, seats in events:
        again = taken & set(seats)
        if again:
            faults.append(f"{offset}: {sorted(again)} granted twice")
        grant = grants.get(offset)
        if grant is not None:
            count = len(grant.seats)
            blocks = [b for run in runs for b in _blocks(run, count, taken, eligible)]
            clean = any(not lone for _, lone in blocks)
            if not grant.together and blocks:
                faults.append(f"{offset}: {grant.seats} split while a block of {count} was free")
            if grant.together:
                run = next(r for r in runs if grant.seats[0] in r)
                first = run.index(grant.seats[0])
                if run[first:first + count] != grant.seats:
                    faults.append(f"{offset}: {grant.seats} said together but are not")
                elif _leaves_lone(run, first, first + count - 1, taken) and clean:
                    faults.append(f"{offset}: {grant.seats} left a lone seat needlessly")
        taken |= set(seats)
    return faults


def _avoidable(runs: list[list[str]], taken: set[str], k: int) -> bool:
    """Whether k free seats of these runs can be taken leaving no new lone seat:
    a stretch of L free seats gives j cleanly unless L - j == 1."""
    sums = {0}
    for run in runs:
        stretches, length = [], 0
        for seat in [*run, None]:
            if seat is None or seat in taken:
                if length:
                    stretches.append(length)
                length = 0
            else:
                length += 1
        for length in stretches:
            sums = {s + j for s in sums for j in range(length + 1)
                    if s + j <= k and (length < 2 or j != length - 1)}
    return k in sums


def _lone(run: list[str], taken: set[str]) -> set[str]:
    return {seat for i, seat in enumerate(run) if seat not in taken
            and (i == 0 or run[i - 1] in taken) and (i == len(run) - 1 or run[i + 1] in taken)}


FREEING = ("release", "expire", "unblock")


def orphan_faults(rows: list[list[list[str]]], events: list[tuple[str, list[str]]],
                  taken_before: Iterable[str] = (), freed: Iterable[tuple[str, list[str]]] = ()
                  ) -> list[str]:
    """Replay hold events under the orphan rule: a hold that left a seat alone
    where another choice of as many seats in its row would not is a fault.
    ``taken_before``: the seats held, booked or blocked when the events began;
    ``freed``: the stream's entries that freed seats meanwhile (FREEING), by
    offset like ``events``."""
    taken: set[str] = set(taken_before)
    faults: list[str] = []
    frees = sorted(freed, key=lambda entry: _position(entry[0]))
    for offset, seats in events:
        while frees and _position(frees[0][0]) < _position(offset):
            taken -= set(frees.pop(0)[1])
        fresh = set(seats) - taken
        for row in rows:
            mine = {s for run in row for s in run} & fresh
            if not mine:
                continue
            after = taken | fresh
            new = set().union(*(_lone(r, after) for r in row)) - set().union(
                *(_lone(r, taken) for r in row))
            if new and _avoidable(row, taken, len(mine)):
                faults.append(f"{offset}: {sorted(seats)} left {sorted(new)} alone")
        taken |= fresh
    return faults


def _position(offset: str) -> tuple[int, int]:
    """A stream entry id (``ms-seq``) in the order Redis gives them."""
    ms, _, seq = offset.partition("-")
    return int(ms), int(seq or 0)


def stream_after(entries: Iterable[tuple[str, dict[str, str]]], start: str, *kinds: str
                 ) -> list[tuple[str, list[str]]]:
    """The entries of ``kinds`` after the offset ``start``: (offset, seats)."""
    return [(offset, fields["s"].split(",")) for offset, fields in entries
            if fields["k"] in kinds and _position(offset) > _position(start)]


def rows_of(seats: Iterable[dict[str, Any]]) -> list[list[list[str]]]:
    """The runs of each row, front to back."""
    by_row: dict[int, list[dict[str, Any]]] = {}
    for seat in seats:
        by_row.setdefault(seat["y"], []).append(seat)
    return [runs_of(by_row[y]) for y in sorted(by_row)]
