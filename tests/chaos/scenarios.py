"""Chaos runs: ``seatserver loadgen`` plays against real servers while one part
of the system fails, and its audit (docs/loadgen.md) must still pass.

Each scenario owns what it breaks and a database of its own, waits until the
load is really flowing (read from the server's /metrics, not guessed from the
clock), breaks the part, brings it back, lets the run finish and returns an
:class:`Outcome`: the audit's verdict plus what the scenario itself expects
to have seen (clients that reconnected, answers that said ``unavailable``,
no 500). The test suite runs them short (tests/chaos/test_chaos.py);
``make chaos`` runs them longer with more clients (``python -m tests.chaos``).

- :func:`instance_killed`: two ``seatserver serve`` behind deploy/haproxy.cfg,
  one SIGKILLed mid-run, later started again.
- :func:`redis_restarted`: the servers' Redis stopped and started again
  (append-only file, as docker-compose.yml and the embedded Redis run it).
- :func:`postgres_restarted`: PostgreSQL crashed (immediate shutdown) and
  started again while buyers check out.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from seatserver.catalog.seed import seed_demo
from seatserver.db import create_pool, migrate
from seatserver.embedded import EmbeddedServices
from seatserver.loadgen.stats import error_codes
from tests.balancer import balancer_for
from tests.loadgen.conftest import loadgen_command, loadgen_env
from tests.processes import PrivateRedis, ServerProcess
from tests.services import drop_database, make_database
from tests.support import eventually

# Short holds: seats of buyers who closed the tab come back within the run.
SERVER_ENV = {"SEATSERVER_HOLD_TTL": "30"}
TRAFFIC_WITHIN_S = 30.0  # for the load to reach the server before breaking it
RECOVERY_WITHIN_S = 30.0


@dataclass(frozen=True, slots=True)
class Plan:
    """How big and long a run is; ``down_s`` is how long the broken part stays down."""

    report_dir: Path
    clients: int = 30
    duration_s: float = 8.0
    down_s: float = 1.5
    workers: int = 1


@dataclass(frozen=True, slots=True)
class Stores:
    """What a scenario may use besides what it owns: a Redis it may flush, a
    PostgreSQL server it may create databases on, a folder for data."""

    redis_url: str
    admin_database_url: str
    data_dir: Path


@dataclass
class Outcome:
    name: str
    audit_passed: bool
    audit: dict[str, str]  # check name -> passed | failed | not_run
    figures: dict[str, Any]
    problems: list[str] = field(default_factory=list)  # the scenario's own expectations
    report: Path | None = None
    output: str = ""  # the load generator's stdout and stderr

    @property
    def passed(self) -> bool:
        return self.audit_passed and not self.problems

    def explain(self) -> str:
        failed = [name for name, status in self.audit.items() if status != "passed"]
        return (f"{self.name}: audit {'passed' if self.audit_passed else 'FAILED'} "
                f"{failed or ''} problems {self.problems} figures {self.figures}\n"
                f"report {self.report}\n{self.output[-4000:]}")


Scenario = Callable[[Stores, Plan], Awaitable[Outcome]]


# -- the scenarios -------------------------------------------------------------


async def instance_killed(stores: Stores, plan: Plan) -> Outcome:
    """Clients of a SIGKILLed instance reconnect through the balancer, resume
    with ``since`` on the other, and the audit passes; the killed one comes back."""
    async with demo_database(stores.admin_database_url) as (dsn, showtime), \
            aiohttp.ClientSession() as http:
        env = {**SERVER_ENV, "REDIS_URL": stores.redis_url, "DATABASE_URL": dsn}
        servers = [ServerProcess(env), ServerProcess(env)]
        try:
            await asyncio.gather(*(s.start() for s in servers))
            async with balancer_for([s.port for s in servers], http) as lb:
                run = LoadRun("instance-killed", plan, lb.url, stores.redis_url, dsn, showtime)
                async with run:
                    victim = servers[0]
                    await until_metric(http, victim.url, "seatserver_command_seconds_count",
                                       {"op": "hold"}, 10, run)
                    assert victim.proc is not None
                    victim.proc.kill()
                    victim.proc.wait(10)
                    down_after = await lb.until(http, "app1", "DOWN")
                    await asyncio.sleep(plan.down_s)
                    victim.stop()
                    await victim.start()
                    up_after = await lb.until(http, "app1", "UP", within=RECOVERY_WITHIN_S)
        finally:
            for server in servers:
                server.stop()
    outcome = run.outcome(marked_down_s=round(down_after, 1), back_up_s=round(up_after, 1))
    totals = run.totals
    if not totals.get("reconnect.resumed"):
        outcome.problems.append("no client resumed with `since` after the kill")
    return outcome


async def redis_restarted(stores: Stores, plan: Plan) -> Outcome:
    """Redis stopped mid-run: holds answer ``unavailable`` meanwhile; once it
    is back the servers recover by themselves (no restart, no operator) and
    the audit passes, the booked seats in Redis still PostgreSQL's."""
    with tempfile.TemporaryDirectory(prefix="seatserver-chaos-redis-") as folder:
        redis = PrivateRedis("--appendonly", "yes", "--appendfsync", "everysec",
                             "--dir", folder)
        redis.start()
        try:
            async with demo_database(stores.admin_database_url) as (dsn, showtime), \
                    aiohttp.ClientSession() as http:
                server = ServerProcess({**SERVER_ENV, "REDIS_URL": redis.url,
                                        "DATABASE_URL": dsn})
                await server.start()
                try:
                    run = LoadRun("redis-restarted", plan, server.url, redis.url, dsn,
                                  showtime)
                    async with run:
                        await until_metric(http, server.url,
                                           "seatserver_command_seconds_count",
                                           {"op": "hold"}, 20, run)
                        redis.stop(graceful=True)
                        await asyncio.sleep(plan.down_s)
                        redis.start()
                        recovered = await until_ready(http, server.url)
                finally:
                    server.stop()
        finally:
            redis.stop()
    outcome = run.outcome(recovered_s=round(recovered, 1))
    if not outcome.figures["unavailable_answers"]:
        outcome.problems.append("nobody was told `unavailable` while Redis was down")
    return outcome


async def postgres_restarted(stores: Stores, plan: Plan) -> Outcome:
    """PostgreSQL crashed and restarted during checkouts: buyers get retryable
    errors (503 with a code and Retry-After), never a 500, retry with the same
    Idempotency-Key, and no booking is lost or doubled (the audit compares
    what each buyer was told with the database)."""
    # Started on this thread: the servers die with the thread that started them.
    services = EmbeddedServices(stores.data_dir / "postgres-restarted")
    redis_url, dsn = services.start()
    try:
        pool = await create_pool(dsn, 2)
        try:
            await migrate(dsn)
            showtime = (await seed_demo(pool))[1]
        finally:
            await pool.close()
        async with aiohttp.ClientSession() as http:
            server = ServerProcess({**SERVER_ENV, "REDIS_URL": redis_url, "DATABASE_URL": dsn})
            await server.start()
            try:
                run = LoadRun("postgres-restarted", plan, server.url, redis_url, dsn, showtime,
                              "--checkout-share", "0.7")
                async with run:
                    await until_metric(http, server.url, "seatserver_checkout_seconds_count",
                                       {"outcome": "created"}, 3, run)
                    services.stop_postgres()
                    await asyncio.sleep(plan.down_s)
                    services.start_postgres()
                    recovered = await until_ready(http, server.url)
                internal = await metric(http, server.url, "seatserver_http_internal_errors_total")
            finally:
                server.stop()
    finally:
        services.stop()
    outcome = run.outcome(recovered_s=round(recovered, 1), server_500s=internal)
    codes = {code for group in error_codes(run.totals).values() for code in group}
    if internal or {"internal_error", "http_500", "upgrade_500"} & codes:
        outcome.problems.append(f"answered 500: {internal} on the server, codes {codes}")
    if not run.totals.get("checkout.retried.unavailable"):
        outcome.problems.append("no checkout was told `unavailable` while PostgreSQL was down")
    return outcome


SCENARIOS: dict[str, Scenario] = {
    "instance-killed": instance_killed,
    "redis-restarted": redis_restarted,
    "postgres-restarted": postgres_restarted,
}


# -- what they share ------------------------------------------------------------


class LoadRun:
    """``seatserver loadgen`` as a child process for the length of an ``async
    with``; its report (JSON and HTML) is written under the plan's folder."""

    def __init__(self, name: str, plan: Plan, url: str, redis_url: str, database_url: str,
                 showtime: int, *extra: str) -> None:
        self.name = name
        self.prefix = plan.report_dir / name
        self.args = ["--url", url, "--clients", str(plan.clients), "--workers",
                     str(plan.workers), "--duration", f"{plan.duration_s:g}", "--showtimes",
                     str(showtime), "--think", "0.3", "--arrival-rate", "100",
                     "--redis-url", redis_url, "--database-url", database_url,
                     "--report", str(self.prefix), *extra]
        self.process: asyncio.subprocess.Process | None = None
        self.returncode: int | None = None
        self.output = ""
        self.body: dict[str, Any] = {}

    async def __aenter__(self) -> LoadRun:
        self.prefix.parent.mkdir(parents=True, exist_ok=True)
        self.process = await asyncio.create_subprocess_exec(
            *loadgen_command(*self.args), env=loadgen_env(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.process is not None
        if exc[0] is not None and self.process.returncode is None:
            self.process.kill()
        out, _ = await asyncio.wait_for(self.process.communicate(), 180)
        self.output = out.decode(errors="replace")
        self.returncode = self.process.returncode
        path = self.prefix.with_suffix(".json")
        if path.exists():
            self.body = json.loads(path.read_text())

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    @property
    def totals(self) -> dict[str, int]:
        totals: dict[str, int] = self.body.get("totals", {})
        return totals

    def outcome(self, **figures: Any) -> Outcome:
        audit = self.body.get("audit", {"passed": False, "checks": []})
        totals = self.totals
        unavailable = sum(n for group in error_codes(totals).values()
                          for code, n in group.items() if code == "unavailable")
        outcome = Outcome(
            self.name, bool(audit["passed"]) and self.returncode == 0,
            {c["name"]: c["status"] for c in audit["checks"]},
            {"holds_granted": totals.get("hold.ok", 0),
             "checkouts_booked": totals.get("checkout.booked", 0),
             "reconnects": totals.get("reconnect", 0),
             "resumed_with_since": totals.get("reconnect.resumed", 0),
             "unavailable_answers": unavailable,
             "checkout_retries": sum(n for k, n in totals.items()
                                     if k.startswith("checkout.retried.")),
             **figures},
            report=self.prefix.with_suffix(".html"), output=self.output)
        if not self.body:
            outcome.problems.append(f"the load generator wrote no report (exit "
                                    f"{self.returncode})")
        return outcome


@asynccontextmanager
async def demo_database(admin_dsn: str) -> AsyncIterator[tuple[str, int]]:
    """A migrated database of its own with the demo; its DSN and the showtime
    to play (tomorrow's: today's may be within the sales cut-off)."""
    name, dsn = await asyncio.to_thread(make_database, admin_dsn, "seatserver_chaos")
    try:
        await migrate(dsn)
        pool = await create_pool(dsn, 2)
        try:
            showtime = (await seed_demo(pool))[1]
        finally:
            await pool.close()
        yield dsn, showtime
    finally:
        await asyncio.to_thread(drop_database, admin_dsn, name)


async def metric(http: aiohttp.ClientSession, base_url: str, name: str,
                 labels: Mapping[str, str] | None = None) -> float:
    """One sample of a server's /metrics (0 when absent)."""
    async with http.get(base_url + "/metrics") as resp:
        text = await resp.text()
    return sum(s.value for family in text_string_to_metric_families(text)
               for s in family.samples
               if s.name == name and all(s.labels.get(k) == v
                                         for k, v in (labels or {}).items()))


async def until_metric(http: aiohttp.ClientSession, base_url: str, name: str,
                       labels: Mapping[str, str], at_least: float, run: LoadRun) -> None:
    """Wait until the load shows on the server: the sample reaches ``at_least``."""
    async def there() -> bool:
        if not run.running:
            raise AssertionError(f"the load generator ended early: {run.name}")
        return await metric(http, base_url, name, labels) >= at_least

    await eventually(there, within=TRAFFIC_WITHIN_S, interval=0.1)


async def until_ready(http: aiohttp.ClientSession, base_url: str) -> float:
    """Seconds until the server's /readyz says it has its stores again."""
    async def ready() -> bool:
        try:
            async with http.get(base_url + "/readyz") as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    started = time.monotonic()
    await eventually(ready, within=RECOVERY_WITHIN_S, interval=0.05)
    return time.monotonic() - started
