"""FanoutBudget: how often each room may get an update, so that one process
never tries to send more frames per second than it can.

A room gets one update per read of its stream (the change feed coalesces
whatever arrived since the last read into one), and every update is one
frame per subscriber. So a room of ``n`` subscribers read every ``w`` seconds
costs ``n / w`` frames per second, whatever the rate of holds behind it. The
feed asks ``window(showtime)`` after each read that found entries and reads
that stream again no sooner; a room at rest is read at once, so a lone change
still goes out straight away.

Two things set the windows:
  * the size of the busy rooms: the budget (``SEATSERVER_FANOUT_BUDGET``
    frames per second) is shared by water-filling among the rooms that had
    an update lately: small rooms get the fastest rate (the floor window),
    the large ones share what is left equally, so a lobby of 10,000 is
    slowed before a room of 50 is;
  * the process's backlog: when fan-out keeps the event loop busy more than
    ``BUSY_HIGH`` of the time (sends piling up behind acks, snapshots and
    other rooms), every window is stretched, up to ``MAX_STRETCH`` times,
    and shrunk again as the load falls.
The window only merges changes: the feed still reads every entry, in order.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# The shortest window: under load no room is read more often than this. Without
# a floor a busy room of 100 got 300-500 updates/s and hold acks queued behind
# the fan-outs (p99 15 ms at 1,000 holds/s; 4 ms with it, docs/performance.md).
FLOOR_S = 0.02
# The longest: even a huge room on a saturated process hears every 2 s.
CEILING_S = 2.0
# A room counts as busy while it had an update within this many seconds.
ACTIVE_S = 1.0
# How often the windows are worked out again (rooms come and go, grow and shrink).
RECOMPUTE_S = 0.1
# Share of wall time spent fanning out above which the windows stretch, and
# below which they shrink back; how fast, and how far.
BUSY_HIGH, BUSY_LOW = 0.6, 0.3
STRETCH_STEP, MAX_STRETCH = 1.25, 8.0


def water_fill(sizes: dict[int, int], per_s: float, floor_s: float = FLOOR_S
               ) -> dict[int, float]:
    """Each room's window (s) such that the rooms' frames per second,
    ``sum(n / window)``, stay within ``per_s``: the smallest rooms first get
    as much as the floor allows, the rest share equally what is left."""
    windows: dict[int, float] = {}
    left = per_s
    fastest = 1 / floor_s
    rooms = sorted(sizes.items(), key=lambda item: item[1])
    for i, (showtime, size) in enumerate(rooms):
        share = max(left, 0.0) / (len(rooms) - i)
        rate = min(fastest, share / max(size, 1))
        windows[showtime] = 1 / rate if rate > 0 else CEILING_S
        left -= rate * size
    return windows


class FanoutBudget:
    def __init__(self, per_s: float, *, floor_s: float = FLOOR_S,
                 ceiling_s: float = CEILING_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_s = per_s
        self._clock = clock
        self._floor = floor_s
        self._ceiling = ceiling_s
        self._seen: dict[int, tuple[float, int]] = {}  # showtime -> (last update, size)
        self._windows: dict[int, float] = {}
        self._computed = 0.0
        self._busy_s = 0.0  # fan-out wall time since the last computation
        self.stretch = 1.0

    def delivered(self, showtime: int, subscribers: int, took_s: float) -> None:
        """A room's update went to ``subscribers``, its fan-out taking ``took_s``."""
        self._seen[showtime] = (self._clock(), subscribers)
        self._busy_s += took_s

    def forget(self, showtime: int) -> None:
        self._seen.pop(showtime, None)
        self._windows.pop(showtime, None)

    def window(self, showtime: int) -> float:
        """Seconds the feed waits after a read that found entries of ``showtime``."""
        now = self._clock()
        if now - self._computed >= RECOMPUTE_S:
            self._compute(now)
        window = self._windows.get(showtime, self._floor) * self.stretch
        return min(self._ceiling, max(self._floor, window))

    def _compute(self, now: float) -> None:
        elapsed = now - self._computed
        if self._computed and elapsed > 0:
            busy = self._busy_s / elapsed
            if busy > BUSY_HIGH:
                self.stretch = min(MAX_STRETCH, self.stretch * STRETCH_STEP)
            elif busy < BUSY_LOW:
                self.stretch = max(1.0, self.stretch / STRETCH_STEP)
        self._busy_s = 0.0
        self._computed = now
        for showtime, (at, _) in list(self._seen.items()):
            if now - at > ACTIVE_S:
                del self._seen[showtime]
        sizes = {showtime: size for showtime, (_, size) in self._seen.items()}
        self._windows = water_fill(sizes, self.per_s, self._floor)
