"""Seat plans drawn as text, for tables of seating cases.

One line per row, front (nearest the screen) first: the row's label, a space,
then one character per grid cell:

  .  no seat (an aisle, a gap)      o  a free seat          g  a free gold seat
  x  a seat someone else holds      m  a seat the buyer holds
  w  a free wheelchair space        c  a free companion seat of the w beside it
  b  a blocked seat (house seat, press, broken: off online sale)

Seats are numbered from 1, left to right, skipping gaps: ``A oo.o`` is A1, A2, A3.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from seatserver.holds import HoldEngine


@dataclass(frozen=True, slots=True)
class PlanSeat:
    id: str
    type: str
    x: int
    y: int
    accessible: bool = False
    companion_of: str | None = None


@dataclass(frozen=True)
class Plan:
    seats: Mapping[str, PlanSeat]
    screen: str = "top"
    no_orphans: bool = True
    companions_alone: bool = False
    held: dict[str, str] = field(default_factory=dict)  # seat -> "other" | "buyer"
    blocked: list[str] = field(default_factory=list)


def plan(picture: str, *, no_orphans: bool = True, companions_alone: bool = False) -> Plan:
    seats: dict[str, PlanSeat] = {}
    held: dict[str, str] = {}
    blocked: list[str] = []
    for y, line in enumerate(picture.strip().splitlines()):
        label, cells = line.strip().split(" ", 1)
        number = 0
        ids: dict[int, str] = {}
        for x, cell in enumerate(cells):
            if cell == ".":
                continue
            number += 1
            ids[x] = f"{label}{number}"
        for x, seat_id in ids.items():
            cell = cells[x]
            partner = None
            if cell == "c":
                partner = next(ids[p] for p in (x - 1, x + 1) if p in ids and cells[p] == "w")
            seats[seat_id] = PlanSeat(seat_id, "gold" if cell == "g" else "std", x, y,
                                      accessible=cell == "w", companion_of=partner)
            if cell in "xm":
                held[seat_id] = "other" if cell == "x" else "buyer"
            if cell == "b":
                blocked.append(seat_id)
    return Plan(seats, no_orphans=no_orphans, companions_alone=companions_alone, held=held,
                blocked=blocked)


async def seat_the_picture(engine: HoldEngine, showtime: int, drawn: Plan) -> None:
    """Hold the seats the picture shows held: 'x' one seat per other holder,
    'm' for the holder "buyer" (no seating rules: the picture is the state);
    'b' seats blocked."""
    for seat, who in drawn.held.items():
        await engine.hold(showtime, "buyer" if who == "buyer" else f"other-{seat}", [seat])
    await engine.block(showtime, drawn.blocked)
