"""How hard the load generator itself works, and whether its host is
saturated: a saturated client measures its own queueing, not the server's.

Each worker sends, with every second's tick, the CPU time it used in that
second and how late its event loop ran a timer (the longest stall). The
parent adds its own CPU time and judges each second against the cores the
load generator may use (its CPU affinity and any cgroup quota): a second is
saturated when the load generator's CPU is above ``CPU_SATURATED`` of those
cores, or a worker's event loop stalled more than ``LAG_SATURATED_MS``.
``SUSTAINED_S`` saturated seconds in a row raise the warning, live and in
the report (locust warns the same way).

Each worker also tunes its garbage collector as the server does once its
buyers exist, and times its collections (``Collector``): the report says how
much of the workers' time went to the collector, which was a third of a
worker's samples before (docs/performance.md, "One core for 5,000 buyers").
"""

from __future__ import annotations

import asyncio
import gc
import os
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seatserver import loops
from seatserver.loop_lag import GENERATIONS, GcPauses

CPU_SATURATED = 0.9
LAG_SATURATED_MS = 200.0
SUSTAINED_S = 3
LAG_TICK_S = 0.05
# A test seam: a share of the cores the CPU readings report instead of
# measuring (docs/loadgen.md), so that the warning can be shown to work.
FORCE_ENV = "SEATSERVER_LOADGEN_FORCE_CPU_SHARE"


def usable_cores() -> float:
    """The cores this process may run on: its affinity, within a cgroup v2 quota."""
    try:
        cores = float(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        cores = float(os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, int(quota) / int(period))
    except (OSError, ValueError):
        pass
    return max(cores, 0.01)


def forced_share() -> float | None:
    raw = os.environ.get(FORCE_ENV)
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        return None


class LoopLag:
    """A worker's event loop lateness: the longest stall since the last take."""

    def __init__(self) -> None:
        self.max_ms = 0.0
        self._cpu = time.process_time()

    async def run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(LAG_TICK_S)
            late = (time.perf_counter() - start - LAG_TICK_S) * 1000
            self.max_ms = max(self.max_ms, late)

    def take(self) -> tuple[float, float]:
        """CPU seconds used and the longest stall (ms) since the last take."""
        cpu = time.process_time()
        used, self._cpu = cpu - self._cpu, cpu
        lag, self.max_ms = self.max_ms, 0.0
        return used, lag


class Collector:
    """A worker's garbage collector: tuned like the server's once the worker
    has built its buyers (``start``), then timed per generation."""

    def __init__(self) -> None:
        self.pauses = GcPauses()

    def start(self) -> None:
        loops.tune_collector()
        gc.callbacks.append(self.pauses)

    def figures(self) -> dict[str, Any]:
        """Per generation (young first): collections, seconds in them, the
        longest (ms); and the thresholds and frozen objects they ran with."""
        return {"thresholds": list(gc.get_threshold()), "frozen": gc.get_freeze_count(),
                "collections": list(self.pauses.collections),
                "seconds": [round(s, 4) for s in self.pauses.seconds],
                "longest_ms": [round(ms, 1) for ms in self.pauses.longest_ms]}


def collector_summary(workers: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The workers' ``Collector.figures`` together: counts and seconds summed,
    the longest pause of any, each worker's thresholds and frozen objects."""
    if not workers:
        return None
    generations = range(GENERATIONS)
    return {
        "thresholds": [w["thresholds"] for w in workers],
        "frozen": [w["frozen"] for w in workers],
        "collections": [sum(w["collections"][g] for w in workers) for g in generations],
        "seconds": [round(sum(w["seconds"][g] for w in workers), 3) for g in generations],
        "longest_ms": [max(w["longest_ms"][g] for w in workers) for g in generations],
    }


@dataclass
class HostLoad:
    """The parent's judgement of each second of the run."""

    cores: float = field(default_factory=usable_cores)
    forced: float | None = field(default_factory=forced_share)
    seconds: list[dict[str, Any]] = field(default_factory=list)
    episodes: list[dict[str, Any]] = field(default_factory=list)
    _seen: int = 0
    _streak: int = 0
    _parent_cpu: float = field(default_factory=time.process_time)

    def update(self, series: list[dict[str, Any]]) -> None:
        """Judge the seconds closed since the last call (rows of ``Aggregate.series``)."""
        new = series[self._seen:]
        if not new:
            return
        self._seen = len(series)
        cpu = time.process_time()
        parent_each, self._parent_cpu = (cpu - self._parent_cpu) / len(new), cpu
        for row in new:
            used = row.get("loadgen_cpu_s", 0.0) + parent_each
            share = used / self.cores if self.forced is None else self.forced
            row["loadgen_cpu_share"] = round(share, 3)
            lag = row.get("loop_lag_max_ms", 0.0)
            saturated = share > CPU_SATURATED or lag > LAG_SATURATED_MS
            self.seconds.append({"t": row["t"], "share": share, "lag_ms": lag,
                                 "saturated": saturated})
            self._judge(row["t"], share, lag, saturated)

    def _judge(self, t: int, share: float, lag: float, saturated: bool) -> None:
        self._streak = self._streak + 1 if saturated else 0
        if self._streak < SUSTAINED_S:
            return
        last = self.episodes[-1] if self.episodes else None
        if last is not None and last["to_s"] == t - 1:
            last["to_s"] = t
            last["peak_cpu_share"] = max(last["peak_cpu_share"], round(share, 3))
            last["peak_loop_lag_ms"] = max(last["peak_loop_lag_ms"], round(lag, 1))
        else:
            self.episodes.append({"from_s": t - SUSTAINED_S + 1, "to_s": t,
                                  "peak_cpu_share": round(share, 3),
                                  "peak_loop_lag_ms": round(lag, 1)})

    @property
    def saturated_now(self) -> bool:
        return self._streak >= SUSTAINED_S

    @property
    def warning(self) -> str | None:
        if not self.episodes:
            return None
        seconds = sum(e["to_s"] - e["from_s"] + 1 for e in self.episodes)
        peak = max(e["peak_cpu_share"] for e in self.episodes)
        lag = max(e["peak_loop_lag_ms"] for e in self.episodes)
        return (f"the load generator's host was saturated for {seconds} s (CPU up to "
                f"{peak:.0%} of its {self.cores:g} cores, event loop late by up to "
                f"{lag:.0f} ms): latencies then include the client's own queueing, not "
                "just the server's; use more --workers, fewer --clients or another machine")

    def summary(self, wall_s: float, collectors: list[dict[str, Any]]) -> dict[str, Any]:
        """The run's CPU use: the workers (reaped: their whole lives) and the
        parent; ``collectors``: the workers' ``Collector.figures``."""
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        parent = own.ru_utime + own.ru_stime
        workers = children.ru_utime + children.ru_stime
        shares = [s["share"] for s in self.seconds]
        return {
            "cpu_s": round(parent + workers, 3), "parent_cpu_s": round(parent, 3),
            "workers_cpu_s": round(workers, 3), "wall_s": round(wall_s, 3),
            "cores": self.cores,
            "share_of_cores": round((parent + workers) / (wall_s * self.cores), 3)
            if wall_s > 0 else None,
            "peak_second_share": round(max(shares), 3) if shares else None,
            "loop_lag_max_ms": round(max((s["lag_ms"] for s in self.seconds), default=0.0), 1),
            "saturated": bool(self.episodes), "episodes": self.episodes,
            "warning": self.warning, "forced": self.forced,
            "collector": collector_summary(collectors),
            "thresholds": {"cpu_share": CPU_SATURATED, "loop_lag_ms": LAG_SATURATED_MS,
                           "sustained_s": SUSTAINED_S},
        }
