"""ExpirySweeper: releases due holds of the showtimes this instance serves.

It keeps, per showtime, the earliest deadline it knows of and sleeps until the
first of them (on Redis' clock, via the engine's measured offset), rather than
polling every showtime every tick. Deadlines are learnt from hold events in
the change feed (any instance's holds) and from each expiry run, which
returns the showtime's true next deadline. The expire script is idempotent,
so several instances sweeping the same showtime record each expiry once.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time

from seatserver.background import BackgroundTask
from seatserver.errors import Unavailable
from seatserver.holds.engine import HoldEngine

log = logging.getLogger(__name__)

# Run a little after the deadline so Redis' clock has surely passed it.
LATE_MS = 2
RETRY_MS = 500


class ExpirySweeper:
    def __init__(self, engine: HoldEngine) -> None:
        self._engine = engine
        self._due: dict[int, int] = {}  # showtime -> earliest known deadline
        self._heap: list[tuple[int, int]] = []
        self._served: set[int] = set()
        self._wake = asyncio.Event()
        self._loop = BackgroundTask("expiry-sweeper", self._run)

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    def watch(self, showtime: int) -> None:
        """Start serving a showtime: sweep it now to learn its next deadline."""
        self._served.add(showtime)
        self.schedule(showtime, 0)

    def forget(self, showtime: int) -> None:
        self._served.discard(showtime)
        self._due.pop(showtime, None)

    def schedule(self, showtime: int, deadline: int) -> None:
        if showtime not in self._served:
            return
        current = self._due.get(showtime)
        if current is not None and current <= deadline:
            return
        self._due[showtime] = deadline
        heapq.heappush(self._heap, (deadline, showtime))
        self._wake.set()

    def _redis_now(self) -> float:
        return time.time() * 1000 + self._engine.clock_offset_ms

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            if not self._heap:
                await self._wake.wait()
                continue
            deadline, showtime = self._heap[0]
            delay_ms = deadline + LATE_MS - self._redis_now()
            if delay_ms > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay_ms / 1000)
                continue
            heapq.heappop(self._heap)
            if self._due.get(showtime) != deadline:
                continue  # superseded by an earlier deadline, or forgotten
            del self._due[showtime]
            await self._sweep(showtime)

    async def _sweep(self, showtime: int) -> None:
        try:
            result = await self._engine.expire(showtime)
        except Unavailable:
            self.schedule(showtime, int(self._redis_now()) + RETRY_MS)
            return
        except Exception:
            log.exception("expiry sweep of showtime %s failed", showtime)
            self.schedule(showtime, int(self._redis_now()) + RETRY_MS)
            return
        if result.next_deadline is not None:
            self.schedule(showtime, result.next_deadline)
