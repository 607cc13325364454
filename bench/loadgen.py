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

Figures are from loadgen's JSON report: hold requests per second over the run
(granted and refused), p50/p99 of the hold round trip, fan-out delay (server
stamp to receipt) and checkout time, and the audit's verdict.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.processes import SeatServer
from bench.report import Row, ms, run_main, say
from bench.services import prepare

SHOWTIMES = 3
ARRIVAL_RATE = 250.0
LOADGEN_WORKERS = 2
SERVER_WORKERS = 2
# (clients, seconds of buying) per run, smallest first.
CLIENTS = ((1000, 40.0), (2500, 50.0), (5000, 60.0))
QUICK = ((300, 15.0), (1000, 20.0))


async def one_run(clients: int, duration: float, report: Path) -> dict[str, Any]:
    services = await prepare()
    server = SeatServer(services.redis_url, services.database_url, workers=SERVER_WORKERS)
    try:
        await server.start()
        showtimes = ",".join(map(str, services.showtimes[:SHOWTIMES]))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "seatserver", "loadgen", "--url", server.url,
            "--clients", str(clients), "--duration", str(duration),
            "--showtimes", showtimes, "--arrival-rate", str(ARRIVAL_RATE),
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


def row(clients: int, report: dict[str, Any]) -> Row:
    latency = report["latency"]
    hold, fanout, checkout = (latency.get(k, {}) for k in ("hold", "fanout", "checkout"))
    totals = report["totals"]
    requests = hold_requests(report)
    rate = requests / max(report["elapsed_s"], 1e-9)
    failed = [c["name"] for c in report["audit"]["checks"] if c["status"] == "failed"]
    note = (f"{requests:,} hold requests ({totals.get('hold.ok', 0):,} granted), "
            f"{rate:,.0f}/s; hold p50 {ms(hold.get('p50_ms', 0))}; fan-out p50/p99 "
            f"{ms(fanout.get('p50_ms', 0))}/{ms(fanout.get('p99_ms', 0))}; checkout p50/p99 "
            f"{ms(checkout.get('p50_ms', 0))}/{ms(checkout.get('p99_ms', 0))} "
            f"({checkout.get('count', 0)} checkouts); errors {report['errors'] or 'none'}")
    if failed:
        note += f"; FAILED checks: {failed}"
    return Row(f"loadgen: {clients:,} clients on {SHOWTIMES} showtimes, "
               f"hold p99 (server with {SERVER_WORKERS} workers)",
               ms(hold.get("p99_ms", 0)), "", "",
               "audit passes", report["audit"]["passed"], note=note)


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
    say(f"loadgen: reports (JSON and HTML) in {folder}")
    return rows


if __name__ == "__main__":
    run_main(bench, __doc__)
