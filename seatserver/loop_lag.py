"""LoopLagMonitor: how late the event loop runs a timer, i.e. how long it stalls.

A fan-out, a slow callback or a blocking call shows up here as lag. It is a
ticker, not a profiler: it says that the loop stalled and for how long, and
the benchmarks read it to prove no stall exceeds its bound. Beside it, the
garbage collector's own pauses by generation (``GcPauses``, through
``gc.callbacks``), the one stall no callback of ours shows: a full collection
walks every object a process holds, thousands of connections' included.
"""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import dataclass, field
from typing import Any

from seatserver.background import BackgroundService, BackgroundTask

TICK_S = 0.02


GENERATIONS = 3


@dataclass
class GcPauses:
    """Collections and their pauses per generation, since installed."""

    collections: list[int] = field(default_factory=lambda: [0] * GENERATIONS)
    seconds: list[float] = field(default_factory=lambda: [0.0] * GENERATIONS)
    longest_ms: list[float] = field(default_factory=lambda: [0.0] * GENERATIONS)
    _began: float = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            return
        generation = min(int(info.get("generation", 0)), GENERATIONS - 1)
        took = time.perf_counter() - self._began
        self.collections[generation] += 1
        self.seconds[generation] += took
        self.longest_ms[generation] = max(self.longest_ms[generation], took * 1000)


class LoopLagMonitor(BackgroundService):
    def __init__(self) -> None:
        super().__init__(BackgroundTask("loop-lag", self._run))
        self.max_lag_ms = 0.0
        self.last_lag_ms = 0.0
        self.stalls_over_100ms = 0
        self.gc = GcPauses()

    def reset(self) -> None:
        self.max_lag_ms = 0.0
        self.stalls_over_100ms = 0

    async def _run(self) -> None:
        gc.callbacks.append(self.gc)
        try:
            while True:
                start = time.perf_counter()
                await asyncio.sleep(TICK_S)
                lag = (time.perf_counter() - start - TICK_S) * 1000
                self.last_lag_ms = lag
                if lag > self.max_lag_ms:
                    self.max_lag_ms = lag
                if lag > 100:
                    self.stalls_over_100ms += 1
        finally:
            gc.callbacks.remove(self.gc)
