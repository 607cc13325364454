"""The showtimes a run plays on, read from the server, and how buyers choose seats.

People do not click at random: they want the middle of the screen, rows about
two thirds of the way back, the dearer seat types, and seats side by side.
Each seat gets a desirability in [0, 1]; with ``--hot-seat-bias b`` a free
seat is chosen with weight ``exp(5 b d)``, so at b = 1 the best seat is about
150 times as likely as the worst, and at b = 0 every free seat is alike.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from seatserver.loadgen.client import SeatView

BEST_DEPTH = 0.65  # of the way from the screen to the back row
BIAS_SCALE = 5.0
ACCESSIBLE_WEIGHT = 0.25  # most buyers leave wheelchair spaces alone
# Draws among all seats before a pick weighs the free ones alone (SeatPicker._draw).
DRAWS = 8


class LoadgenError(Exception):
    """The run cannot start as asked; the message says what to change."""


@dataclass(frozen=True, slots=True)
class SeatInfo:
    id: str
    row: str
    number: int
    type: str
    x: int
    y: int
    accessible: bool
    price: int  # minor units; 0 when the seat type is not on sale


@dataclass(frozen=True, slots=True)
class ShowtimePlan:
    id: int
    seats: tuple[SeatInfo, ...]

    def types(self) -> dict[str, int]:
        """Seats per type, as the kiosk summaries count them."""
        out: dict[str, int] = {}
        for seat in self.seats:
            out[seat.type] = out.get(seat.type, 0) + 1
        return out


async def _get(http: aiohttp.ClientSession, url: str) -> Any:
    try:
        async with http.get(url) as resp:
            if resp.status == 200:
                return await resp.json()
            said = (await resp.text())[:200]
            if resp.content_type == "application/json":
                error = (await resp.json()).get("error") or {}
                said = f"{error.get('code')}: {error.get('message')}"
            raise LoadgenError(f"GET {url} answered {resp.status} {said}")
    except (aiohttp.ClientError, ValueError) as exc:
        raise LoadgenError(f"cannot reach {url}: {exc}") from exc


async def load_showtimes(http: aiohttp.ClientSession, base_url: str,
                         ids: Sequence[int] | None) -> list[ShowtimePlan]:
    """The seat maps of the asked showtimes, or of every listed one."""
    if ids is None:
        listed = await _get(http, f"{base_url}/api/showtimes")
        if isinstance(listed, dict):  # a paged shape, should the list grow one
            listed = listed.get("items") or listed.get("showtimes") or []
        ids = [int(s["id"]) for s in listed]
        if not ids:
            raise LoadgenError(f"{base_url}/api/showtimes lists no showtimes: "
                               "seed some (seatserver seed --demo) or name them")
    plans = []
    for showtime in ids:
        detail = await _get(http, f"{base_url}/api/showtimes/{showtime}")
        seats = tuple(
            SeatInfo(str(s["id"]), str(s["row"]), int(s["number"]), str(s["type"]),
                     int(s["x"]), int(s["y"]), bool(s.get("accessible")),
                     int((s.get("price") or {}).get("amount", 0)))
            for s in detail["seats"])
        if not seats:
            raise LoadgenError(f"showtime {showtime} has no seats")
        plans.append(ShowtimePlan(showtime, seats))
    return plans


def desirability(seats: Sequence[SeatInfo]) -> dict[str, float]:
    """Each seat's appeal in [0, 1]: centrality, depth and price."""
    xs, ys = [s.x for s in seats], [s.y for s in seats]
    prices = [s.price for s in seats]
    cx, half = (min(xs) + max(xs)) / 2, max(1.0, (max(xs) - min(xs)) / 2)
    y0, depth = min(ys), max(1, max(ys) - min(ys))
    p0, spread = min(prices), max(prices) - min(prices)
    out = {}
    for s in seats:
        central = 1 - abs(s.x - cx) / half
        d = (s.y - y0) / depth
        row = max(0.0, 1 - abs(d - BEST_DEPTH) / BEST_DEPTH)
        price = (s.price - p0) / spread if spread else 0.5
        out[s.id] = 0.45 * central + 0.35 * row + 0.2 * price
    return out


class SeatPicker:
    """Chooses free seats for one showtime the way a buyer would."""

    def __init__(self, plan: ShowtimePlan, bias: float) -> None:
        self.plan = plan
        appeal = desirability(plan.seats)
        self.weights = {
            s.id: math.exp(BIAS_SCALE * bias * appeal[s.id])
            * (ACCESSIBLE_WEIGHT if s.accessible else 1.0)
            for s in plan.seats}
        self.appeal = appeal
        self._by_id = {s.id: s for s in plan.seats}
        self._row_seat: dict[tuple[str, int], str] = {(s.row, s.number): s.id
                                                      for s in plan.seats}
        # For drawing among all seats by weight in O(log n) (bisect), rather
        # than weighing the free ones afresh on every pick.
        self._ids = list(self.weights)
        self._cumulative = list(itertools.accumulate(self.weights.values()))

    def free(self, view: SeatView) -> list[str]:
        taken = _taken(view)
        return [s.id for s in self.plan.seats if s.id not in taken]

    def pick(self, rng: random.Random, view: SeatView, size: int,
             near: Sequence[str] = ()) -> list[str]:
        """Up to ``size`` free seats side by side (next to ``near`` if possible);
        empty when the view shows nothing free."""
        taken = Taken(view)
        candidates = self._beside(near, taken) if near else []
        if candidates:
            anchor = rng.choices(candidates, [self.weights[s] for s in candidates])[0]
        else:
            drawn = self._draw(rng, taken)
            if drawn is None:
                return []
            anchor = drawn
        group = [anchor]
        seat = self._by_id[anchor]
        left, right = seat.number - 1, seat.number + 1
        while len(group) < size:
            step = self._row_seat.get((seat.row, right))
            if step is not None and step not in taken:
                group.append(step)
                right += 1
                continue
            step = self._row_seat.get((seat.row, left))
            if step is not None and step not in taken:
                group.insert(0, step)
                left -= 1
                continue
            break
        return group

    def _draw(self, rng: random.Random, taken: Taken) -> str | None:
        """A free seat, drawn by weight among the free ones; None when none is.

        Drawn among all seats and drawn again while taken: a free seat then
        comes with the same odds as weighing the free ones alone, and in a
        hall not nearly full it takes a try or two instead of a pass over
        every seat (which was an eighth of a load generator worker's time).
        A hall nearly full falls back to that pass after DRAWS tries."""
        ids, cumulative = self._ids, self._cumulative
        for _ in range(DRAWS):
            seat = rng.choices(ids, cum_weights=cumulative)[0]
            if seat not in taken:
                return seat
        free = [s for s in ids if s not in taken]
        if not free:
            return None
        return rng.choices(free, [self.weights[s] for s in free])[0]

    def _beside(self, near: Sequence[str], taken: Taken) -> list[str]:
        beside = []
        for seat_id in near:
            seat = self._by_id[seat_id]
            for number in (seat.number - 1, seat.number + 1):
                other = self._row_seat.get((seat.row, number))
                if other is not None and other not in taken and other not in near:
                    beside.append(other)
        return beside


class Taken:
    """Whether a seat is taken in a view, asked of its sets in place (a
    union of them, built for every pick, cost more than the pick)."""

    __slots__ = ("_booked", "_held", "_mine")

    def __init__(self, view: SeatView) -> None:
        # Own holds too: the ack may arrive before the update that shows them held.
        self._held, self._booked, self._mine = view.held, view.booked, view.mine

    def __contains__(self, seat: object) -> bool:
        return seat in self._held or seat in self._booked or seat in self._mine


def _taken(view: SeatView) -> set[str]:
    # Own holds too: the ack may arrive before the update that shows them held.
    return view.held | view.booked | set(view.mine)
