"""LoopLagMonitor: how late the event loop runs a timer, i.e. how long it stalls.

A fan-out, a slow callback or a blocking call shows up here as lag. It is a
ticker, not a profiler: it says that the loop stalled and for how long, and
the benchmarks read it to prove no stall exceeds its bound. Beside it, the
garbage collector's own pauses by generation (``GcPauses``, through
``gc.callbacks``), the one stall no callback of ours shows: a full collection
walks every object a process holds, thousands of connections' included.

What a lag figure cannot say is *why*: the loop ran one long callback, or the
process was not on a core at all (a crowded machine), or it sat in a blocking
system call. ``StallWatch`` answers that: a thread that notices when the loop
has not ticked for a while, samples the loop thread's stack while it stays
stuck, and when it moves again logs one line with the stall's length, how much
of it the loop thread ran on a core, waited for one, or slept, and where it was.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import threading
import time
import traceback
from collections import Counter, deque
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from seatserver.background import BackgroundService, BackgroundTask

log = logging.getLogger(__name__)

TICK_S = 0.02
# How often the watch looks at the loop's last tick, and samples its stack
# while it is stuck. Waking 50 times a second costs the loop next to nothing:
# while the loop waits for I/O it does not hold the GIL the watch takes.
WATCH_S = 0.02
STACK_FRAMES = 6  # innermost frames kept of each sample
REPORTS_KEPT = 32


GENERATIONS = 3
# Recent collections kept for the stall watch (a stall spans a few at most).
COLLECTIONS_KEPT = 16
# Causes of a reported stall, for /metrics (StallReport.cause).
CAUSES = ("gc", "busy", "crowded", "blocked", "unknown")


@dataclass(frozen=True)
class Collection:
    """One garbage collection: when it ended (monotonic s), how long it took."""

    ended: float
    took_s: float
    generation: int


@dataclass
class GcPauses:
    """Collections and their pauses per generation, since installed."""

    collections: list[int] = field(default_factory=lambda: [0] * GENERATIONS)
    seconds: list[float] = field(default_factory=lambda: [0.0] * GENERATIONS)
    longest_ms: list[float] = field(default_factory=lambda: [0.0] * GENERATIONS)
    # The last few, for the stall watch's thread: a collection holds the GIL
    # from start to end, so that thread cannot look while one runs.
    recent: deque[Collection] = field(default_factory=lambda: deque(maxlen=COLLECTIONS_KEPT))
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
        self.recent.append(Collection(time.monotonic(), took, generation))

    def within(self, start: float, end: float) -> list[Collection]:
        """The collections that ended between ``start`` and ``end`` (monotonic s)."""
        return [c for c in list(self.recent) if start < c.ended <= end]


@dataclass(frozen=True)
class ThreadTimes:
    """A thread's time on a core and waiting in the run queue (seconds), from
    /proc's schedstat; None where the kernel keeps no such figures."""

    ran: float
    waited: float

    @classmethod
    def read(cls, native_id: int) -> ThreadTimes | None:
        try:
            with open(f"/proc/self/task/{native_id}/schedstat") as stats:
                ran, waited = stats.read().split()[:2]
            return cls(int(ran) / 1e9, int(waited) / 1e9)
        except (OSError, ValueError):
            return None


@dataclass(frozen=True)
class StallReport:
    """One stall: its length, and what the loop thread did while the watch
    looked on (from noticing it to its end, the stall's length less up to
    the threshold and a watch period)."""

    lag_ms: float
    watched_ms: float
    ran_ms: float | None  # on a core (our code, the GC, the interpreter)
    waited_ms: float | None  # runnable, waiting for a core: the machine, not us
    where: list[tuple[str, int]]  # the most sampled stacks, with their counts
    # Garbage collections that ended during the stall: generation, ms.
    collections: tuple[tuple[int, float], ...] = ()

    @property
    def gc_ms(self) -> float:
        return sum(ms for _, ms in self.collections)

    @property
    def cause(self) -> str:
        """"gc" when garbage collections took at least half the stall (the
        watch cannot sample them: a collection holds the GIL, and its stack
        shows no Python frame), else "busy" when the loop thread ran most of
        the watched time, "crowded" when it mostly waited for a core,
        "blocked" when it mostly slept (a blocking call), "unknown" without
        schedstat figures."""
        if self.gc_ms >= self.lag_ms / 2:
            return "gc"
        if self.ran_ms is None or self.waited_ms is None:
            return "unknown"
        slept = self.watched_ms - self.ran_ms - self.waited_ms
        return max((self.ran_ms, "busy"), (self.waited_ms, "crowded"), (slept, "blocked"))[1]

    def line(self) -> str:
        times = ("" if self.ran_ms is None or self.waited_ms is None else
                 f"; of {self.watched_ms:.0f} ms watched, on a core {self.ran_ms:.0f} ms, "
                 f"waiting for one {self.waited_ms:.0f} ms")
        where = "; ".join(f"{n}x {stack}" for stack, n in self.where) or "no sample"
        collected = ("" if not self.collections else "; garbage collection " + ", ".join(
            f"{ms:.0f} ms (generation {generation})" for generation, ms in self.collections))
        return (f"event loop stalled {self.lag_ms:.0f} ms ({self.cause}){collected}{times}; "
                f"where: {where}")


class StallWatch:
    """A thread that reports every stall of the loop longer than ``over_s``.

    The loop side only stamps ``beat`` on each tick of the lag monitor; the
    thread does the rest, so a stall is seen while it lasts (the loop cannot
    look at itself then) and costs the loop nothing when there is none.
    """

    def __init__(self, over_s: float, gc_pauses: GcPauses | None = None) -> None:
        self.over_s = over_s
        self._gc = gc_pauses
        self.beat = time.monotonic()
        self.reports: deque[StallReport] = deque(maxlen=REPORTS_KEPT)
        self.by_cause: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Stalls as the loop measured them once they ended (beat before, beat
        # after, lag in s), and the end of the last one the thread followed.
        # A collection holds the GIL, so the thread may not see one while it
        # lasts: on a crowded machine the loop can tick again before the
        # thread gets a core. Such a stall, mostly collections, is reported
        # from here, without samples or times.
        self._ended: deque[tuple[float, float, float]] = deque(maxlen=REPORTS_KEPT)
        self._followed_until = 0.0
        self._loop_ident = 0
        self._loop_native = 0

    def start(self) -> None:
        """From the loop's thread: the thread to watch is the caller's."""
        self._loop_ident = threading.get_ident()
        self._loop_native = threading.get_native_id()
        self.beat = time.monotonic()
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="stall-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def ended(self, before: float, after: float, lag_s: float) -> None:
        """From the loop: a tick ``lag_s`` late, between beats ``before`` and
        ``after``; called before ``beat`` moves to ``after``."""
        if lag_s > self.over_s:
            self._ended.append((before, after, lag_s))

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_S):
            self._report_missed()
            beat = self.beat
            if time.monotonic() - beat > self.over_s:
                self._follow(beat)

    def _report_missed(self) -> None:
        while self._ended:
            before, after, lag_s = self._ended.popleft()
            if after <= self._followed_until:
                continue  # followed while it lasted, and reported then
            report = StallReport(lag_s * 1000, 0.0, None, None, [],
                                 self._collections(before, after))
            # Any other unseen stall has no figures to say what it was.
            if report.cause == "gc":
                self._report(report)

    def _collections(self, start: float, end: float) -> tuple[tuple[int, float], ...]:
        if self._gc is None:
            return ()
        return tuple((c.generation, c.took_s * 1000) for c in self._gc.within(start, end))

    def _report(self, report: StallReport) -> None:
        self.reports.append(report)
        self.by_cause[report.cause] += 1
        log.warning("%s", report.line())

    def _follow(self, beat: float) -> None:
        """Sample the stuck loop's stack until it ticks again, then report."""
        began = ThreadTimes.read(self._loop_native)
        seen_at = time.monotonic()
        samples: Counter[str] = Counter()
        while self.beat == beat and not self._stop.is_set():
            frame = sys._current_frames().get(self._loop_ident)
            if frame is not None:
                samples[_where(frame)] += 1
            del frame
            self._stop.wait(WATCH_S / 2)
        end = self.beat
        if end == beat:
            # Stopped while stuck: the stall ends with the process (a shutdown,
            # or a test's loop closed under it), and there may be no log left.
            return
        if not samples:
            # The loop ticked again before this thread looked once (it waited
            # for a core or the GIL): what it measured is its own delay, the
            # loop thread idle in it, which would read as "blocked". Not
            # followed, then: the loop's own measure of the stall goes to
            # _report_missed, which reports one that was mostly collections.
            return
        ended = ThreadTimes.read(self._loop_native)
        now = time.monotonic()
        # The beat is stamped a tick's sleep after the loop got going again.
        lag_s = end - TICK_S - beat
        ran = waited = None
        if began is not None and ended is not None:
            ran = (ended.ran - began.ran) * 1000
            waited = (ended.waited - began.waited) * 1000
        self._followed_until = end
        self._report(StallReport(lag_s * 1000, (now - seen_at) * 1000, ran, waited,
                                 samples.most_common(3), self._collections(beat, end)))


def _where(frame: FrameType) -> str:
    """The innermost frames, innermost first: "function (file.py:line) < ..."."""
    stack = traceback.extract_stack(frame)[-STACK_FRAMES:]
    return " < ".join(f"{f.name} ({os.path.basename(f.filename)}:{f.lineno})"
                      for f in reversed(stack))


class LoopLagMonitor(BackgroundService):
    def __init__(self, stall_report_ms: int = 0) -> None:
        super().__init__(BackgroundTask("loop-lag", self._run))
        self.max_lag_ms = 0.0
        self.last_lag_ms = 0.0
        self.stalls_over_100ms = 0
        self.gc = GcPauses()
        self.watch = StallWatch(stall_report_ms / 1000, self.gc) if stall_report_ms else None

    def reset(self) -> None:
        self.max_lag_ms = 0.0
        self.stalls_over_100ms = 0

    async def _run(self) -> None:
        gc.callbacks.append(self.gc)
        watch = self.watch
        if watch is not None:
            watch.start()
        try:
            while True:
                start = time.perf_counter()
                await asyncio.sleep(TICK_S)
                lag = (time.perf_counter() - start - TICK_S) * 1000
                if watch is not None:
                    now = time.monotonic()
                    watch.ended(watch.beat, now, lag / 1000)
                    watch.beat = now
                self.last_lag_ms = lag
                if lag > self.max_lag_ms:
                    self.max_lag_ms = lag
                if lag > 100:
                    self.stalls_over_100ms += 1
        finally:
            gc.callbacks.remove(self.gc)
            if watch is not None:
                await asyncio.to_thread(watch.stop)
