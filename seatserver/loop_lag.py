"""LoopLagMonitor: how late the event loop runs a timer, i.e. how long it stalls.

A fan-out, a slow callback or a blocking call shows up here as lag. It is a
ticker, not a profiler: it says that the loop stalled and for how long, and
the benchmarks read it to prove no stall exceeds its bound.
"""

from __future__ import annotations

import asyncio
import time

from seatserver.background import BackgroundService, BackgroundTask

TICK_S = 0.02


class LoopLagMonitor(BackgroundService):
    def __init__(self) -> None:
        super().__init__(BackgroundTask("loop-lag", self._run))
        self.max_lag_ms = 0.0
        self.last_lag_ms = 0.0
        self.stalls_over_100ms = 0

    def reset(self) -> None:
        self.max_lag_ms = 0.0
        self.stalls_over_100ms = 0

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(TICK_S)
            lag = (time.perf_counter() - start - TICK_S) * 1000
            self.last_lag_ms = lag
            if lag > self.max_lag_ms:
                self.max_lag_ms = lag
            if lag > 100:
                self.stalls_over_100ms += 1
