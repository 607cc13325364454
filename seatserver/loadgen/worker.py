"""A worker process: its share of the clients on its own event loop.

It reports to the parent through a queue: a ``Tick`` for every second of the
run, then one ``WorkerResult`` once its clients have stopped, compared their
final views with fresh snapshots and closed. It stops when the parent says
so, when the run's duration is over, or when the parent is gone. SIGINT is
ignored here: Ctrl-C reaches the whole process group, and the parent decides.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as StopEvent
from typing import Any

import aiohttp

from seatserver import loops
from seatserver.loadgen.buyer import Budget, Buyer, Kiosk, Person, Shared, now_ms
from seatserver.loadgen.finalview import ViewCheck, compare_all
from seatserver.loadgen.hostload import Collector, LoopLag
from seatserver.loadgen.ledger import (
    CheckoutRecord,
    Grant,
    Ledger,
    NotAdmitted,
    Unanswered,
    Wait,
)
from seatserver.loadgen.options import LoadOptions
from seatserver.loadgen.seatmap import SeatPicker, ShowtimePlan
from seatserver.loadgen.stats import Recorder, Tick

GRACE_S = 10.0  # for steps in flight (a checkout, a hold) when the run stops
QUIET_S = 0.5  # no update for this long: the room is at rest
QUIET_MAX_S = 5.0


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    index: int
    options: LoadOptions
    showtimes: tuple[ShowtimePlan, ...]
    clients: tuple[int, ...]  # global client numbers, for arrival times and seeds
    kiosks: tuple[int, ...]
    hold_budget: int | None
    parent: int


@dataclass
class WorkerResult:
    worker: int
    grants: list[Grant]
    unanswered: list[Unanswered]
    checkouts: list[CheckoutRecord]
    views: ViewCheck
    violations: list[str]
    error_frames: list[str]
    clients: int
    arrived: int  # clients whose arrival time came before the run stopped
    never_connected: int  # of those, how many never got connected
    stop_ms: float
    wind_down_s: float
    waits: list[Wait] = field(default_factory=list)
    not_admitted: list[NotAdmitted] = field(default_factory=list)
    clock_ahead_ms: float = 0.0
    collector: dict[str, Any] = field(default_factory=dict)  # Collector.figures


def main(plan: WorkerPlan, queue: Queue[Any], stop: StopEvent, go: Synchronized[float]
         ) -> None:
    """The process's entry point (multiprocessing target). ``go``: the run's
    start (wall clock), set by the parent once every worker is ready."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        loops.run(Worker(plan, queue, stop, go).run())
    except BaseException:
        queue.put(("error", plan.index, traceback.format_exc()))
        raise SystemExit(1) from None


class Worker:
    def __init__(self, plan: WorkerPlan, queue: Queue[Any], stop: StopEvent,
                 go: Synchronized[float]) -> None:
        self.plan = plan
        self.queue = queue
        self.stop = stop
        self.go = go
        self.started = 0.0  # the run's start, wall clock (s), once the parent says go
        self.recorder = Recorder()
        self.ledger = Ledger()
        self.budget = Budget(plan.hold_budget)
        self._second = 0
        self.lag = LoopLag()
        self.collector = Collector()

    async def run(self) -> None:
        options = self.plan.options
        connector = aiohttp.TCPConnector(limit=0)
        # Bearer tokens only: no cookie is ever sent, so no request is
        # cookie-authenticated (and none needs a CSRF token).
        async with aiohttp.ClientSession(connector=connector,
                                         cookie_jar=aiohttp.DummyCookieJar()) as http:
            shared = Shared(options, http,
                            [SeatPicker(p, options.hot_seat_bias) for p in self.plan.showtimes],
                            self.recorder, self.ledger, asyncio.Event(), self.budget, [], [])
            buyers = [Buyer(shared, f"c{i}", random.Random(f"{options.seed}:buyer:{i}"))
                      for i in self.plan.clients]
            kiosks = [Kiosk(shared, f"k{i}", random.Random(f"{options.seed}:kiosk:{i}"),
                            self.plan.showtimes[i % len(self.plan.showtimes)].id)
                      for i in self.plan.kiosks]
            tasks: dict[Person, asyncio.Task[None]] = {}
            self.collector.start()
            # Up: the run (its duration, arrivals, an on-sale rush) starts once
            # every worker is, however long the others took to start.
            self.queue.put(("ready", self.plan.index))
            await self._until_go()
            ticker = asyncio.create_task(self._tick())
            lagging = asyncio.create_task(self.lag.run())
            arrivals = asyncio.create_task(self._arrive([*kiosks, *buyers], tasks))
            try:
                await self._until_stop(shared)
            finally:
                arrivals.cancel()
                await asyncio.gather(arrivals, return_exceptions=True)
            result = await self._finish(shared, buyers, kiosks, tasks)
            ticker.cancel()
            lagging.cancel()
            await asyncio.gather(ticker, lagging, return_exceptions=True)
            self._send_tick(final=True)
            self.queue.put(("result", result))

    async def _until_go(self) -> None:
        # A value across processes, polled: no event of this loop can say it changed.
        while True:
            go = self.go.value
            if go or self.stop.is_set() or os.getppid() != self.plan.parent:
                break
            await asyncio.sleep(0.01)
        self.started = go or time.time()  # stopped before the start: nobody arrives

    async def _arrive(self, people: list[Person], tasks: dict[Person, asyncio.Task[None]]
                      ) -> None:
        """Start each person at its arrival time (``LoadOptions.arrival_s``)."""
        kiosk_count = len(self.plan.kiosks)
        for n, person in enumerate(people):
            if isinstance(person, Buyer):
                number = self.plan.clients[n - kiosk_count]
                delay = self.started + self.plan.options.arrival_s(number) - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            tasks[person] = asyncio.create_task(person.run())

    async def _until_stop(self, shared: Shared) -> None:
        end = self.started + self.plan.options.duration_s
        while not self.stop.is_set() and time.time() < end:
            if os.getppid() != self.plan.parent:
                break  # the parent died: nobody would read our report
            await asyncio.sleep(0.05)

    async def _finish(self, shared: Shared, buyers: list[Buyer], kiosks: list[Kiosk],
                      tasks: dict[Person, asyncio.Task[None]]) -> WorkerResult:
        stopped = time.monotonic()
        shared.stopping.set()
        stop_ms = now_ms()
        # Idle people stop at once; a step in flight may finish within the grace.
        for person, task in tasks.items():
            if not person.busy:
                task.cancel()
        if tasks:
            _, late = await asyncio.wait(tasks.values(), timeout=GRACE_S)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
        for buyer in buyers:
            buyer.finish(stop_ms)
        await asyncio.gather(*(buyer.settle() for buyer in buyers))
        await self._quiet()
        people: list[Person] = [*buyers, *kiosks]
        views = await compare_all(shared, people, self.plan.showtimes)
        self.ledger.close(stop_ms, self.recorder.clock_ahead_ms or 0.0)
        for person in people:
            await person.close()
        return WorkerResult(
            worker=self.plan.index, grants=self.ledger.grants,
            unanswered=self.ledger.unanswered(), checkouts=self.ledger.checkouts,
            views=views, violations=shared.violations, error_frames=shared.error_frames,
            clients=len(buyers), arrived=sum(1 for b in buyers if b in tasks),
            never_connected=sum(1 for b in buyers if b in tasks and not b.ever_connected),
            stop_ms=stop_ms, wind_down_s=time.monotonic() - stopped, waits=self.ledger.waits,
            not_admitted=self.ledger.not_admitted,
            clock_ahead_ms=self.recorder.clock_ahead_ms or 0.0,
            collector=self.collector.figures())

    async def _quiet(self) -> None:
        """Wait until no update has arrived for a moment (bounded)."""
        deadline = time.monotonic() + QUIET_MAX_S
        while time.monotonic() < deadline:
            if time.monotonic() - self.recorder.last_update >= QUIET_S:
                return
            await asyncio.sleep(0.05)

    async def _tick(self) -> None:
        while True:
            due = self.started + self._second + 1
            await asyncio.sleep(max(0.0, due - time.time()))
            self._send_tick()

    def _send_tick(self, final: bool = False) -> None:
        counters, histograms = self.recorder.take()
        second = self._second if not final else max(
            self._second, int(time.time() - self.started))
        cpu_s, lag_ms = self.lag.take()
        self.queue.put(("tick", Tick(self.plan.index, second, counters, histograms,
                                     self.recorder.connected, self._exhausted(), cpu_s,
                                     lag_ms)))
        self._second = second + 1

    def _exhausted(self) -> bool:
        return self.budget.exhausted
