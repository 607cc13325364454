"""What the figures were measured on, and how busy the rest of the machine was.

These machines are shared: another job's test run can take a core away in the
middle of a benchmark. ``CpuMeter`` measures, over a stretch of time, the CPU
used by this benchmark's own process tree (servers, load agents, Redis) and by
everything else, so that each result says how quiet the machine was.
"""

from __future__ import annotations

import asyncio
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncpg
import psutil
import redis.asyncio as aioredis

T = TypeVar("T")


def _cpu_model() -> str:
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


async def describe(redis_url: str, database_url: str) -> dict[str, str]:
    client = aioredis.from_url(redis_url)
    try:
        redis_version = (await client.info("server"))["redis_version"]
    finally:
        await client.aclose()
    conn = await asyncpg.connect(database_url)
    try:
        pg_version = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    return {
        "nproc": str(os.cpu_count()),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "redis": str(redis_version),
        "postgresql": str(pg_version),
    }


@dataclass
class CpuUse:
    seconds: float
    ours: float  # cores used by this process and its descendants
    others: float  # cores used by everything else (PostgreSQL included)


class CpuMeter:
    def __init__(self) -> None:
        self._me = psutil.Process()
        self._start = self._sample()

    def _ours(self) -> float:
        total = 0.0
        for proc in [self._me, *self._me.children(recursive=True)]:
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            # children_*: children that exited and were reaped; their time
            # moves there from their own entry, so nothing is lost or doubled.
            total += times.user + times.system + times.children_user + times.children_system
        return total

    def _sample(self) -> tuple[float, float, float]:
        busy = psutil.cpu_times()
        used = sum(busy) - busy.idle - getattr(busy, "iowait", 0.0)
        return time.monotonic(), used, self._ours()

    def read(self) -> CpuUse:
        """CPU use since the meter started (or was last reset)."""
        t0, used0, ours0 = self._start
        t1, used1, ours1 = self._sample()
        span = max(t1 - t0, 1e-9)
        ours = (ours1 - ours0) / span
        return CpuUse(span, ours, max(0.0, (used1 - used0) / span - ours))

    def reset(self) -> None:
        self._start = self._sample()


# A run during which other jobs used more than this many cores is repeated.
NOISY_CORES = 0.3
RETRIES = 3
# Pause before a repeat: a burst of other work (a test run's browser) often passes.
RETRY_PAUSE_S = 3.0


@dataclass
class Noise:
    """How much other jobs disturbed the runs of one figure."""

    others: list[float]
    repeated: int = 0

    def describe(self) -> str:
        worst = max(self.others, default=0.0)
        text = f"other jobs used ≤ {worst:.2f} cores during its runs"
        if self.repeated:
            text += f" ({self.repeated} noisy run(s) repeated)"
        if worst > NOISY_CORES:
            text += "; STILL NOISY: read with care"
        return text


async def quiet(run: Callable[[], Awaitable[T]], noise: Noise) -> T:
    """Run once; repeat (at most RETRIES times) while other jobs were busy meanwhile.

    These machines are shared, and a test suite starting elsewhere can take a
    core in the middle of a run; a repeated run is counted in ``noise``.
    """
    for attempt in range(RETRIES + 1):
        meter = CpuMeter()
        result = await run()
        others = meter.read().others
        if others <= NOISY_CORES or attempt == RETRIES:
            noise.others.append(others)
            return result
        noise.repeated += 1
        print(f"    (other jobs used {others:.2f} cores during that run: repeating it)",
              file=sys.stderr, flush=True)
        await asyncio.sleep(RETRY_PAUSE_S)
    raise AssertionError("unreachable")
