"""Free seats per seat type for listings: the layout minus what Redis holds or sold.

Counts come from the hold engine's snapshot (one script per showtime, the
calls of one page pipelined together by its batcher) and the layouts (cached;
the missing ones of a page read in two queries together, never one a showtime).
A listing must not fail because Redis does: when it cannot answer in time, the showtimes go out
without counts and the page says so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from redis.exceptions import RedisError

from seatserver.catalog.models import ShowtimeLayout, ShowtimePage, ShowtimeSummary
from seatserver.errors import Unavailable

log = logging.getLogger(__name__)

UNAVAILABLE_NOTICE = ("free-seat counts are unavailable right now (the seat service "
                      "cannot be reached); showtimes are listed without them")


class SeatState(Protocol):
    @property
    def held(self) -> Sequence[str]: ...

    @property
    def booked(self) -> Sequence[str]: ...


class SeatStates(Protocol):
    """What the hold engine offers: a showtime's held and booked seats."""

    async def snapshot(self, showtime: int, holder: str = "") -> SeatState: ...


class LayoutSource(Protocol):
    async def layouts(self, showtime_ids: Sequence[int]
                      ) -> dict[int, ShowtimeLayout | None]: ...


def free_per_type(layout: ShowtimeLayout, state: SeatState) -> dict[str, int]:
    """Seats of each type that are neither held nor booked (a seat counts once)."""
    taken = {*state.held, *state.booked}
    free = dict(layout.types)
    for seat_id in taken:
        seat = layout.seats.get(seat_id)
        if seat is not None:  # Redis may still know seats a layout edit removed
            free[seat.type] -= 1
    return free


class Availability:
    def __init__(self, states: SeatStates, layouts: LayoutSource, *,
                 timeout_s: float = 1.0) -> None:
        self._states = states
        self._layouts = layouts
        self._timeout = timeout_s

    async def counted(self, page: ShowtimePage) -> ShowtimePage:
        """The page with each showtime's free seats, or marked unavailable."""
        counts = await self.free(page.showtimes)
        if counts is None:
            return replace(page, availability="unavailable", notice=UNAVAILABLE_NOTICE)
        return replace(page, showtimes=[replace(s, free=counts.get(s.id))
                                        for s in page.showtimes])

    async def free(self, showtimes: Sequence[ShowtimeSummary]
                   ) -> dict[int, dict[str, int]] | None:
        """Showtime id -> free seats per type, in the order of the showtime's
        prices; None when Redis cannot answer within the timeout."""
        if not showtimes:
            return {}
        try:
            async with asyncio.timeout(self._timeout):
                states = await asyncio.gather(
                    *(self._states.snapshot(s.id) for s in showtimes))
        except (Unavailable, TimeoutError, RedisError, OSError) as exc:
            log.warning("free-seat counts unavailable: %r", exc)
            return None
        # Two queries at most for the whole page (cached layouts need none).
        layouts = await self._layouts.layouts([s.id for s in showtimes])
        counts: dict[int, dict[str, int]] = {}
        for showtime, state in zip(showtimes, states, strict=True):
            layout = layouts.get(showtime.id)
            if layout is None:  # deleted since the page was read
                continue
            free = free_per_type(layout, state)
            order = [t for t in showtime.prices if t in free]
            order += sorted(t for t in free if t not in showtime.prices)
            counts[showtime.id] = {t: free[t] for t in order}
        return counts
