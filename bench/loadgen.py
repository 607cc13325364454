"""Load generator runs: realistic buyers on 3 showtimes, with checkouts and the audit.

Each run prepares fresh services (every seat free), starts ``seatserver serve
--workers 2`` and runs ``seatserver loadgen`` against it in 2 worker processes:
buyers arrive at ``ARRIVAL_RATE`` a second, look, click with think time and a
bias to the best rows, check out a share through the simulated payment page,
and kiosks watch the summary view; then the audit (Redis and PostgreSQL
included) must pass. The runs grow in clients (``CLIENTS``), so the rows show
how hold requests per second and latencies grow with the crowd; the largest
is the 5,000-client run the issue asks for. The 3 showtimes have 636 seats,
so a large crowd sells them out early and keeps clicking on a full house,
which is opening night.

Then the on-sale rush (issue 16): ``ONSALE_CLIENTS`` buyers arrive before
one showtime's opening (``--scenario onsale``: its waiting room on, opening
``OPENS_IN_S`` after the start), wait, are admitted at ``ADMISSION_PER_MIN``
(what this box sustains: see docs/operations.md, "Sizing admission"),
pick and check out; the queue's fairness checks are part of the audit.

Figures are from loadgen's JSON report: hold requests per second over the run
(granted and refused), p50/p99 of the hold round trip, fan-out delay (server
stamp to receipt) and checkout time, each beside the server's own figure
(from its /metrics), the load generator's own CPU, and the audit's verdict.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.processes import SeatServer
from bench.report import Row, ms, run_main, say
from bench.services import prepare
from seatserver.accounts import totp
from seatserver.accounts.passwords import Passwords
from seatserver.accounts.store import AccountStore
from seatserver.personal.setup import stored_keys

SHOWTIMES = 3
ARRIVAL_RATE = 250.0
LOADGEN_WORKERS = 2
SERVER_WORKERS = 2
# (clients, seconds of buying) per run, smallest first.
CLIENTS = ((1000, 40.0), (2500, 50.0), (5000, 60.0))
QUICK = ((300, 15.0), (1000, 20.0))
# The on-sale rush: buyers, seconds, and the admission the operator sets.
ONSALE_CLIENTS, ONSALE_S, QUICK_ONSALE = 5000, 90.0, (1000, 30.0)
OPENS_IN_S = 20.0
ADMISSION_PER_MIN = 6000
ADMIN_PASSWORD = "bench-admin-password-1"
ADMIN_TOTP_KEY = bytes(range(60, 80))
# Targets (issue 16), ms.
TARGET_HOLD_P99 = 500.0
ONSALE_TARGETS = {"hold": 250.0, "fanout": 1000.0, "checkout": 2000.0}
# The server's figure beside each client one (loadgen's server_latency pairs).
SERVER_PAIR = {"hold": "hold", "fanout": "feed_lag", "checkout": "checkout"}


async def _admin(database_url: str) -> tuple[str, str]:
    """An admin account with a known password and two-factor key (admins must
    have one), for the on-sale run: its address and the key as text."""
    email = "bench-admin@example.com"
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        store = AccountStore(pool, await stored_keys(pool), email_ttl=timedelta(days=1),
                             reset_ttl=timedelta(hours=1))
        await store.ensure_staff(email, "admin",
                                 await Passwords(concurrency=1).hash(ADMIN_PASSWORD))
        found = await store.credentials(email)
        assert found is not None
        async with pool.acquire() as conn:
            # Enrolled as if confirmed on the admin page: the load generator
            # computes its log-in's code from the key.
            await conn.execute(
                """INSERT INTO staff_mfa (user_id, secret, confirmed_at)
                   VALUES ($1, $2, now()) ON CONFLICT (user_id) DO NOTHING""",
                found.user_id, ADMIN_TOTP_KEY)
    finally:
        await pool.close()
    return email, totp.secret_text(ADMIN_TOTP_KEY)


async def one_run(clients: int, duration: float, report: Path, *,
                  onsale: bool = False) -> dict[str, Any]:
    services = await prepare()
    server = SeatServer(services.redis_url, services.database_url, workers=SERVER_WORKERS)
    try:
        await server.start()
        if onsale:
            email, key = await _admin(services.database_url)
            showtimes = str(services.showtimes[0])
            scenario = ["--scenario", "onsale", "--admin-email", email,
                        "--admin-password", ADMIN_PASSWORD, "--admin-totp-secret", key,
                        "--opens-in", str(OPENS_IN_S),
                        "--admission-rate", str(ADMISSION_PER_MIN),
                        "--arrival-rate", str(clients / (OPENS_IN_S * 0.75))]
        else:
            showtimes = ",".join(map(str, services.showtimes[:SHOWTIMES]))
            scenario = ["--arrival-rate", str(ARRIVAL_RATE)]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "seatserver", "loadgen", "--url", server.url,
            "--clients", str(clients), "--duration", str(duration),
            "--showtimes", showtimes, *scenario,
            "--workers", str(LOADGEN_WORKERS), "--seed", "7", "--quiet",
            "--redis-url", services.redis_url, "--database-url", services.database_url,
            "--report", str(report), stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        if proc.returncode not in (0, 1):  # 1: the audit failed, which the row says
            raise RuntimeError(f"loadgen exited with {proc.returncode}:\n"
                               f"{out.decode(errors='replace')[-2000:]}")
        result: dict[str, Any] = json.loads(report.with_suffix(".json").read_text())
        return result
    finally:
        await server.stop()
        services.stop()


def hold_requests(report: dict[str, Any]) -> int:
    totals: dict[str, int] = report["totals"]
    return totals.get("hold.ok", 0) + sum(
        n for name, n in totals.items() if name.startswith("hold.refused."))


def p99(report: dict[str, Any], name: str) -> float:
    return float(report["latency"].get(name, {}).get("p99_ms", 0.0))


def server_p99(report: dict[str, Any], name: str) -> str:
    """The server's own p99 for a client figure (its /metrics), or '-'."""
    pair = report.get("server_latency", {}).get("pairs", {}).get(name)
    value = pair and pair["server"].get("p99_ms")
    return "-" if value is None else ms(value)


def summary(report: dict[str, Any]) -> str:
    latency = report["latency"]
    hold, fanout, checkout = (latency.get(k, {}) for k in ("hold", "fanout", "checkout"))
    totals = report["totals"]
    requests = hold_requests(report)
    rate = requests / max(report["elapsed_s"], 1e-9)
    cpu = report.get("loadgen_cpu", {})
    failed = [c["name"] for c in report["audit"]["checks"] if c["status"] == "failed"]
    note = (f"{requests:,} hold requests ({totals.get('hold.ok', 0):,} granted), "
            f"{rate:,.0f}/s; hold p50 {ms(hold.get('p50_ms', 0))} (server p99 "
            f"{server_p99(report, 'hold')}); fan-out p50/p99 {ms(fanout.get('p50_ms', 0))}/"
            f"{ms(fanout.get('p99_ms', 0))}; checkout p50/p99 {ms(checkout.get('p50_ms', 0))}/"
            f"{ms(checkout.get('p99_ms', 0))} ({checkout.get('count', 0)} checkouts, server "
            f"p99 {server_p99(report, 'checkout')}); load generator CPU "
            f"{cpu.get('share_of_cores', 0):.0%} of its cores"
            f"{' (SATURATED: ' + cpu['warning'] + ')' if cpu.get('warning') else ''}; "
            f"errors {report['errors'] or 'none'}")
    if failed:
        note += f"; FAILED checks: {failed}"
    return note


def row(clients: int, report: dict[str, Any]) -> Row:
    hold_p99 = p99(report, "hold")
    target = clients == CLIENTS[-1][0]
    passed = report["audit"]["passed"] and (hold_p99 <= TARGET_HOLD_P99 if target else True)
    return Row(f"loadgen: {clients:,} clients on {SHOWTIMES} showtimes, "
               f"hold p99 (server with {SERVER_WORKERS} workers)",
               ms(hold_p99), "", "",
               f"≤ {TARGET_HOLD_P99:.0f} ms, audit passes" if target else "audit passes",
               passed, note=summary(report))


def onsale_rows(clients: int, report: dict[str, Any]) -> list[Row]:
    queue = report.get("queue") or {}
    wait = queue.get("wait", {})
    rhos = [r["spearman_rho"] for r in queue.get("showtimes", [])]
    rows = []
    for name, limit in ONSALE_TARGETS.items():
        value = p99(report, name)
        rows.append(Row(f"on-sale: {clients:,} buyers, one showtime, waiting room at "
                        f"{ADMISSION_PER_MIN:,}/min: {name} p99", ms(value),
                        f"server {SERVER_PAIR[name].replace('_', ' ')} "
                        f"{server_p99(report, SERVER_PAIR[name])}", "", f"≤ {limit:.0f} ms",
                        value <= limit))
    rows.append(Row(f"on-sale: {clients:,} buyers: audit (fairness, admissions) passes",
                    "passed" if report["audit"]["passed"] else "FAILED", "", "", "passes",
                    report["audit"]["passed"],
                    note=(f"queue wait p50/p99 {ms(wait.get('p50_ms') or 0)}/"
                          f"{ms(wait.get('p99_ms') or 0)}; {queue.get('admitted', 0):,} "
                          f"admitted, {queue.get('abandoned', 0):,} gave up; Spearman rho "
                          f"{rhos}; " + summary(report))))
    return rows


async def bench(quick: bool) -> list[Row]:
    rows = []
    folder = Path(tempfile.mkdtemp(prefix="seatserver-bench-loadgen-"))
    for clients, duration in QUICK if quick else CLIENTS:
        say(f"loadgen: {clients:,} clients for {duration:.0f} s")
        report = await one_run(clients, duration, folder / f"run-{clients}")
        say(f"  audit {'PASSED' if report['audit']['passed'] else 'FAILED'}, "
            f"{hold_requests(report):,} hold requests, hold p99 "
            f"{ms(report['latency'].get('hold', {}).get('p99_ms', 0))}")
        rows.append(row(clients, report))
    clients, duration = QUICK_ONSALE if quick else (ONSALE_CLIENTS, ONSALE_S)
    say(f"loadgen: the on-sale rush, {clients:,} buyers for {duration:.0f} s")
    report = await one_run(clients, duration, folder / f"onsale-{clients}", onsale=True)
    say(f"  audit {'PASSED' if report['audit']['passed'] else 'FAILED'}, hold p99 "
        f"{ms(p99(report, 'hold'))}, update p99 {ms(p99(report, 'fanout'))}, checkout p99 "
        f"{ms(p99(report, 'checkout'))}")
    rows += onsale_rows(clients, report)
    say(f"loadgen: reports (JSON and HTML) in {folder}")
    return rows


if __name__ == "__main__":
    run_main(bench, __doc__)
