"""The parent process of a run: plan, start the workers, show progress, stop,
audit, report.

Stopping: the run ends when its duration is over, when every worker has
spent its share of ``--holds``, or on SIGINT/SIGTERM; the workers then wind
down, compare their views and report, and the audit and the report follow,
so an interrupted run still ends with both (marked partial). A second signal
stops waiting for the workers: they are terminated, and the audit fails for
want of their records.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
import signal
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.context import SpawnProcess
from typing import Any

import aiohttp
import asyncpg
from redis.exceptions import RedisError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from seatserver import loops
from seatserver.loadgen import report, serverside
from seatserver.loadgen.audit import FAILED, NOT_RUN, PASSED, Audit, Evidence, run_audit
from seatserver.loadgen.hostload import HostLoad
from seatserver.loadgen.onsale import SaleSetup
from seatserver.loadgen.options import LoadOptions
from seatserver.loadgen.progress import Progress
from seatserver.loadgen.seatmap import LoadgenError, ShowtimePlan, load_showtimes
from seatserver.loadgen.stats import Aggregate, Tick
from seatserver.loadgen.streamtail import StreamTail
from seatserver.loadgen.worker import GRACE_S, WorkerPlan, WorkerResult, main
from seatserver.redis_client import RedisClient, connect, is_cluster_node

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# The placeholder on-sale time of a rush whose workers are not all up yet.
NOT_YET_S = 3600.0
# Winding down: the grace for steps in flight, settling, the view comparisons.
RESULT_TIMEOUT_S = GRACE_S + 120.0


def run(options: LoadOptions) -> int:
    try:
        return loops.run(Runner(options).run())
    except LoadgenError as exc:
        Console(stderr=True).print(f"[bold red]seatserver loadgen:[/] {escape(str(exc))}",
                                   highlight=False, soft_wrap=True)
        return EXIT_USAGE


@dataclass
class Workers:
    processes: list[SpawnProcess] = field(default_factory=list)
    results: dict[int, WorkerResult] = field(default_factory=dict)
    ready: set[int] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


class Runner:
    def __init__(self, options: LoadOptions) -> None:
        self.o = options
        self.err = Console(stderr=True)
        self.out = Console(highlight=False)
        if not self.out.is_terminal:
            self.out = Console(highlight=False, width=120)
        self.signals: list[int] = []
        self.ctx = multiprocessing.get_context("spawn")
        self.queue: Any = self.ctx.Queue()
        self.stop = self.ctx.Event()
        # The run's start (wall clock), set once every worker is up: 0 until then.
        self.go: Any = self.ctx.Value("d", 0.0)
        self.workers = Workers()
        self.agg = Aggregate(options.workers)
        self.restore_problems: list[str] = []
        self.host = HostLoad()
        self.born = time.time()
        self.scrapes: tuple[serverside.Scrape, serverside.Scrape] | None = None

    async def run(self) -> int:
        _check_together(self.o)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._signalled, sig)
        redis: RedisClient | None = None
        pool: asyncpg.Pool | None = None
        connector = aiohttp.TCPConnector(limit=0)
        http = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())
        sale = SaleSetup(http, self.o)
        try:
            plans = await load_showtimes(http, self.o.url, self.o.showtimes)
            redis, pool = await self._stores()
            tail = StreamTail(redis, [p.id for p in plans]) if redis is not None else None
            if tail is not None:
                await tail.start()
            if self.o.scenario == "onsale":
                # Sales open only once every worker is up (see _play): until then
                # the on-sale time stays far ahead, so that however long the
                # workers take to start, their buyers arrive before the opening.
                await sale.prepare([p.id for p in plans], time.time() + NOT_YET_S)
            before = await serverside.scrape(self.o.metrics_urls, self.o.metrics_token)
            started, stopped, stopped_by = await self._play(plans, sale)
            self.scrapes = (before, await serverside.scrape(self.o.metrics_urls,
                                                            self.o.metrics_token))
            if tail is not None:
                await tail.stop()
            self.agg.finish()
            self.restore_problems = await sale.restore()
            evidence = Evidence(list(self.workers.results.values()), self._missing(),
                                self.agg.totals.get("hold.ok", 0), [p.id for p in plans],
                                tail, redis, pool, self.o.store_audit)
            audit = await run_audit(evidence)
            return self._conclude(plans, audit, started, stopped, stopped_by, sale)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            self._reap()
            if not sale.restored_all:
                await sale.restore()  # stopped before the end (an error): still put back
            await http.close()
            await _close(redis, pool)

    def _signalled(self, signum: int) -> None:
        self.signals.append(signum)
        if len(self.signals) == 1:
            self.err.print(f"\n{signal.Signals(signum).name}: stopping; the workers wind "
                           "down, then the audit and the report (again to abort)")
        else:
            self.err.print("stopping now, without the workers' records")
            for process in self.workers.processes:
                if process.is_alive():
                    process.terminate()

    async def _stores(self) -> tuple[RedisClient | None, asyncpg.Pool | None]:
        redis: RedisClient | None = None
        pool = None
        if self.o.redis_url:
            # A Redis Cluster node is read with the cluster client: every key
            # of a showtime is in one slot, so the audit's scripts still run.
            cluster = await is_cluster_node(self.o.redis_url)
            redis = connect(self.o.redis_url, cluster=bool(cluster), max_connections=8,
                            socket_timeout=30)
            try:
                await redis.ping()
            except (RedisError, OSError) as exc:
                await redis.aclose()
                raise LoadgenError(f"cannot reach Redis at {report.redacted(self.o.redis_url)}"
                                   f": {exc}") from exc
        if self.o.database_url:
            try:
                pool = await asyncpg.create_pool(self.o.database_url, min_size=1, max_size=2)
            except (OSError, asyncpg.PostgresError) as exc:
                if redis is not None:
                    await redis.aclose()
                raise LoadgenError("cannot reach PostgreSQL at "
                                   f"{report.redacted(self.o.database_url)}: {exc}") from exc
        return redis, pool

    def _start_workers(self, plans: list[ShowtimePlan]) -> None:
        n = self.o.workers
        budget = self.o.max_holds
        for w in range(n):
            share = None if budget is None else budget // n + (1 if w < budget % n else 0)
            plan = WorkerPlan(w, self.o, tuple(plans), tuple(range(w, self.o.clients, n)),
                              tuple(range(w, self.o.kiosks, n)), share, os.getpid())
            process = self.ctx.Process(target=main, args=(plan, self.queue, self.stop, self.go),
                                       name=f"loadgen-worker-{w}", daemon=True)
            process.start()
            self.workers.processes.append(process)

    async def _play(self, plans: list[ShowtimePlan], sale: SaleSetup
                    ) -> tuple[float, float, str]:
        """Start the workers, and the run once every one of them is up (the
        duration, arrivals and an on-sale rush's ``opens_in_s`` count from
        then: on a loaded machine a worker took longer to start than a short
        run lasted); returns when it started and stopped (wall clock) and what
        stopped it."""
        self._start_workers(plans)
        stopped_by = "duration"
        started: float | None = None
        with Progress(self.o.url, self.o.clients, self.o.duration_s,
                      enabled=self.o.progress, host=self.host) as progress:
            while True:
                self._drain()
                if started is None and len(self.workers.ready) == self.o.workers:
                    started = self.go.value = time.time()
                    if self.o.scenario == "onsale" and sale.changes_settings:
                        await sale.open_at(started + self.o.opens_in_s)
                self.host.update(self.agg.series)
                elapsed = 0.0 if started is None else time.time() - started
                progress.show(self.agg, elapsed, "running" if started else "starting")
                if self.signals:
                    stopped_by = signal.Signals(self.signals[0]).name
                    break
                if elapsed >= self.o.duration_s:
                    break
                if len(self.agg.exhausted) == self.o.workers:
                    stopped_by = "hold count"
                    break
                if self._dead():
                    stopped_by = "worker failure"
                    break
                await asyncio.sleep(0.1)
            self.stop.set()
            stopped = time.time()
            deadline = time.monotonic() + RESULT_TIMEOUT_S
            while len(self.workers.results) < self.o.workers and time.monotonic() < deadline:
                self._drain()
                progress.show(self.agg, time.time() - (started or stopped), "auditing")
                if len(self.signals) > 1 or self._dead():
                    break
                await asyncio.sleep(0.1)
            self._drain()
        return started or stopped, stopped, stopped_by

    def _drain(self) -> None:
        while True:
            try:
                kind, *rest = self.queue.get_nowait()
            except queue.Empty:
                return
            if kind == "tick":
                tick: Tick = rest[0]
                self.agg.add(tick)
            elif kind == "ready":
                self.workers.ready.add(rest[0])
            elif kind == "result":
                result: WorkerResult = rest[0]
                self.workers.results[result.worker] = result
            elif kind == "error":
                self.workers.errors.append(f"worker {rest[0]} failed:\n{rest[1]}")
                self.err.print(f"[bold red]worker {rest[0]} failed[/]\n{escape(rest[1])}",
                               highlight=False)

    def _dead(self) -> bool:
        """A worker exited without its result."""
        return any(not p.is_alive() and i not in self.workers.results
                   for i, p in enumerate(self.workers.processes))

    def _missing(self) -> list[int]:
        return [w for w in range(self.o.workers) if w not in self.workers.results]

    def _reap(self) -> None:
        for process in self.workers.processes:
            process.join(5)
            if process.is_alive():
                process.terminate()
                process.join(5)

    def _conclude(self, plans: list[ShowtimePlan], audit: Audit, started: float,
                  stopped: float, stopped_by: str, sale: SaleSetup) -> int:
        partial = bool(self.signals) or stopped_by == "worker failure"
        body = report.build(self.o, plans, self.agg, audit, started=started, stopped=stopped,
                            stopped_by=stopped_by, partial=partial)
        body["queue"] = report.queue_section(
            self.o, sale, [w for r in self.workers.results.values() for w in r.waits],
            self.agg)
        self._reap()  # the workers' whole CPU time is known once they are reaped
        self.host.update(self.agg.series)
        body["loadgen_cpu"] = self.host.summary(
            time.time() - self.born,
            [r.collector for r in self.workers.results.values() if r.collector])
        body["server_latency"] = serverside.compare(
            *(self.scrapes or (serverside.Scrape(), serverside.Scrape())), body["latency"],
            self.o.metrics_urls)
        json_path, html_path = report.write(body, self.agg, self.o.report)
        self._print(body, audit)
        self.out.print(f"report: {json_path} and {html_path}")
        if not audit.passed:
            return EXIT_FAILED
        if self.signals:
            return 128 + self.signals[0]
        return EXIT_PASSED

    def _print(self, body: dict[str, Any], audit: Audit) -> None:
        latency = Table(title="latency (ms)", title_justify="left")
        for column in ("what", "samples", "p50", "p90", "p99", "p99.9", "max"):
            latency.add_column(column, justify="left" if column == "what" else "right")
        for name, s in body["latency"].items():
            latency.add_row(name, str(s["count"]), *(
                f"{s[k]:.2f}" if k in s else "-"
                for k in ("p50_ms", "p90_ms", "p99_ms", "p99.9_ms", "max_ms")))
        self.out.print(latency)
        totals = body["totals"]
        self.out.print(escape(
            f"holds granted {totals.get('hold.ok', 0)}, checkouts: "
            f"{totals.get('checkout.booked', 0)} booked, "
            f"{totals.get('checkout.declined', 0)} declined, "
            f"{totals.get('checkout.walked_away', 0)} walked away; "
            f"refusals and errors: " + ("; ".join(
                f"{action} " + ", ".join(f"{c} {n}" for c, n in codes.items())
                for action, codes in body["errors"].items()) or "none")))
        self._print_server(body["server_latency"])
        cpu = body["loadgen_cpu"]
        self.out.print(escape(report.cpu_line(cpu)))
        if cpu["warning"]:
            self.out.print(escape(f"WARNING: {cpu['warning']}"), style="bold yellow")
        queue = body.get("queue")
        if queue:
            self.out.print(escape(report.queue_line(queue)))
        for problem in self.restore_problems:
            self.out.print(escape(problem), style="bold yellow")
        for limit in body["server_limits"]:
            self.out.print(escape(
                f"server limit: {limit['count']} {limit['what']}; the server refuses many "
                f"buyers from one address: raise {limit['setting']} on it for a load test "
                "(docs/loadgen.md)"), style="bold yellow")
        table = Table(title=f"audit: {'PASSED' if audit.passed else 'FAILED'}",
                      title_justify="left", show_lines=False)
        table.add_column("check")
        table.add_column("result")
        table.add_column("figures")
        styles = {PASSED: "green", FAILED: "bold red", NOT_RUN: "bold red"}
        for check in audit.checks:
            figures = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in check.figures.items())
            detail = "".join(f"\n  {d}" for d in check.details)
            table.add_row(check.title, f"[{styles.get(check.status, 'yellow')}]"
                          f"{check.status.upper()}[/]", escape(figures + detail))
        self.out.print(table)
        if body["partial"]:
            self.out.print(f"partial run: stopped by {body['stopped_by']} after "
                           f"{body['elapsed_s']} s")
        sys.stdout.flush()


    def _print_server(self, server: dict[str, Any]) -> None:
        table = Table(title="the server's own latency (ms), beside the clients'",
                      title_justify="left")
        for column in ("what", "server n", "server p50", "server p99", "client p50",
                       "client p99"):
            table.add_column(column, justify="left" if column == "what" else "right")
        for name, row in server["pairs"].items():
            s, c = row["server"], row["client"] or {}
            table.add_row(name, str(s["count"]), *(
                "-" if v is None else f"{v:.2f}"
                for v in (s.get("p50_ms"), s.get("p99_ms"), c.get("p50_ms"), c.get("p99_ms"))))
        if server["pairs"]:
            self.out.print(table)
        for note in server["notes"] or ([] if server["pairs"] else
                                        ["no server-side figures (see --metrics-url)"]):
            self.out.print(escape(f"server metrics: {note}"), style="yellow")


def _check_together(o: LoadOptions) -> None:
    """What argparse cannot check alone: options that must agree."""
    if o.scenario != "onsale":
        return
    if o.duration_s <= o.opens_in_s:
        raise LoadgenError(f"--duration ({o.duration_s:g} s) must be longer than --opens-in "
                           f"({o.opens_in_s:g} s): buyers act after the opening")
    if o.admin_password is not None and not (o.admission_rate or o.active_cap):
        raise LoadgenError("--admission-rate and --active-cap cannot both be 0: nobody "
                           "would ever be admitted")


async def _close(redis: RedisClient | None, pool: asyncpg.Pool | None) -> None:
    """Close the audit's connections; a close that hangs must not hang the run."""
    if redis is not None:
        try:
            await asyncio.wait_for(redis.aclose(), 5)
        except (TimeoutError, RedisError, OSError):
            pass
    if pool is not None:
        try:
            await asyncio.wait_for(pool.close(), 5)
        except (TimeoutError, OSError, asyncpg.PostgresError):
            pool.terminate()
