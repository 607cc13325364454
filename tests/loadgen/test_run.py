"""Whole runs of ``seatserver loadgen`` against a real server, and their audit."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import asyncpg
import redis

from seatserver import loops, redis_keys
from tests.loadgen.conftest import Run, loadgen_command, loadgen_env
from tests.processes import ServerProcess

EVERY_CHECK = {"exercised", "one_holder_stream", "one_holder_clock", "final_views",
               "protocol", "booked_pg_redis", "one_active_sale", "payments_booked",
               "buyers_told_truth", "admissions"}


def stores(redis_url: str, database_url: str) -> list[str]:
    return ["--redis-url", redis_url, "--database-url", database_url]


async def start(*args: str) -> asyncio.subprocess.Process:
    command = loadgen_command(*args)
    return await asyncio.create_subprocess_exec(
        *command, env=loadgen_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


async def clicking(redis_url: str, showtime: int, events: int = 5) -> None:
    """Until the run's buyers have changed ``events`` seats: they are connected
    and clicking (a fixed sleep is too short on a loaded machine, and too long
    on a quiet one)."""
    with redis.Redis.from_url(redis_url) as client:
        for _ in range(600):
            if client.xlen(redis_keys.events(showtime)) >= events:
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"no {events} seat changes within 30 s: are the buyers stuck?")


async def finish(process: asyncio.subprocess.Process, prefix: Path) -> Run:
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode(), prefix)


async def test_short_run_with_checkouts_passes_its_audit_and_writes_both_reports(
        target: ServerProcess, showtime: int, redis_url: str, database_url: str,
        db_pool: asyncpg.Pool, loadgen: Any) -> None:
    run: Run = await asyncio.to_thread(
        loadgen, "--url", target.url, "--clients", "50", "--workers", "2", "--duration", "8",
        "--showtimes", str(showtime), "--checkout-share", "0.5", "--think", "0.3",
        "--arrival-rate", "100", "--seed", "7", *stores(redis_url, database_url))

    assert run.returncode == 0, run.stdout + run.stderr
    report = run.report
    checks = {c["name"]: c["status"] for c in report["audit"]["checks"]}
    assert checks == dict.fromkeys(EVERY_CHECK, "passed")
    assert report["audit"]["passed"] and not report["partial"]
    totals = report["totals"]
    assert totals["hold.ok"] > 50 and totals["checkout.booked"] > 0
    assert report["latency"]["hold"]["count"] >= totals["hold.ok"]
    assert report["latency"]["fanout"]["count"] > 0
    assert report["latency"]["checkout"]["count"] > 0
    assert len(report["series"]) >= 7
    assert run.check("one_holder_stream")["figures"]["acks_matched"] == totals["hold.ok"]
    assert run.check("final_views")["figures"]["views_equal"] > 0
    # The report's bookings are PostgreSQL's: the run started with none.
    async with db_pool.acquire() as conn:
        booked = await conn.fetchval(
            "SELECT count(*) FROM bookings WHERE status = 'booked' AND showtime_id = $1",
            showtime)
    assert booked == totals["checkout.booked"]
    page = run.html
    assert "Audit passed" in page and page.count("<svg") >= 8
    assert not re.search(r"<script|(src|href)=\"https?:", page)
    assert "audit: PASSED" in run.stdout
    # Each worker tuned its collector as the server does once its buyers
    # existed (a third of a worker's time went to full collections before),
    # and timed it for the report.
    collector = report["loadgen_cpu"]["collector"]
    assert collector["thresholds"] == [list(loops.GC_THRESHOLDS)] * 2
    assert all(frozen > 0 for frozen in collector["frozen"])
    assert collector["collections"][2] == 0
    assert "its workers' garbage collection" in run.stdout


async def test_a_run_with_best_available_buyers_passes_its_audit(
        target: ServerProcess, showtime: int, redis_url: str, database_url: str,
        loadgen: Any) -> None:
    run: Run = await asyncio.to_thread(
        loadgen, "--url", target.url, "--clients", "40", "--duration", "6",
        "--showtimes", str(showtime), "--best-share", "0.7", "--checkout-share", "0.3",
        "--think", "0.3", "--arrival-rate", "100", "--seed", "11",
        *stores(redis_url, database_url))

    assert run.returncode == 0, run.stdout + run.stderr
    checks = {c["name"]: c["status"] for c in run.report["audit"]["checks"]}
    assert checks == dict.fromkeys(EVERY_CHECK, "passed")
    totals = run.report["totals"]
    assert totals.get("best.together", 0) > 10
    assert run.check("one_holder_stream")["figures"]["acks_matched"] == totals["hold.ok"]


async def test_audit_fails_when_state_is_corrupted_during_the_run(
        target: ServerProcess, showtime: int, redis_url: str, database_url: str,
        tmp_path: Path) -> None:
    """A seat booked in Redis behind everyone's back (no event, no sale in
    PostgreSQL): the clients' views miss it and the stores disagree."""
    prefix = tmp_path / "corrupted"
    # Slow buyers who never check out: few come back with a fresh snapshot
    # (a page load) between the corruption and the end.
    process = await start(
        "--url", target.url, "--clients", "20", "--duration", "6", "--think", "2",
        "--checkout-share", "0", "--showtimes", str(showtime), "--hot-seat-bias", "1",
        "--report", str(prefix), *stores(redis_url, database_url))
    await clicking(redis_url, showtime)
    with redis.Redis.from_url(redis_url) as client:
        client.sadd(redis_keys.booked(showtime), "A1")
    run = await finish(process, prefix)

    assert run.returncode == 1, run.stdout + run.stderr
    out = run.stdout
    views = run.check("final_views")
    assert views["status"] == "failed"
    assert all("lacks ['A1']" in d for d in views["details"]), views["details"]
    assert run.check("booked_pg_redis")["status"] == "failed"
    assert any("A1 is booked in Redis" in d for d in run.check("booked_pg_redis")["details"])
    assert "audit: FAILED" in out


async def test_sigint_mid_run_stops_with_a_partial_report_and_the_audit(
        target: ServerProcess, showtime: int, redis_url: str, database_url: str,
        tmp_path: Path) -> None:
    prefix = tmp_path / "interrupted"
    process = await start(
        "--url", target.url, "--clients", "30", "--workers", "2", "--duration", "120",
        "--showtimes", str(showtime), "--think", "0.2", "--report", str(prefix),
        *stores(redis_url, database_url))
    await clicking(redis_url, showtime, events=20)
    interrupted = time.monotonic()
    process.send_signal(signal.SIGINT)
    run = await finish(process, prefix)

    assert run.returncode == 128 + signal.SIGINT, run.stdout + run.stderr
    assert time.monotonic() - interrupted < 60
    report = run.report
    out = run.stdout
    assert report["partial"] and report["stopped_by"] == "SIGINT"
    assert report["elapsed_s"] < 30
    assert report["audit"]["passed"] and report["totals"]["hold.ok"] > 0
    assert "Partial run" in run.html
    assert "partial run: stopped by SIGINT" in out


async def test_without_store_urls_the_audit_fails_unless_told_to_skip_them(
        target: ServerProcess, showtime: int, loadgen: Any) -> None:
    common = ("--url", target.url, "--clients", "10", "--duration", "2",
              "--showtimes", str(showtime), "--think", "0.1")
    strict: Run = await asyncio.to_thread(loadgen, *common)

    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert strict.check("booked_pg_redis")["status"] == "not run"
    assert strict.check("one_holder_stream")["status"] == "not run"
    assert strict.check("one_holder_clock")["status"] == "passed"
    assert "--no-store-audit" in strict.check("payments_booked")["details"][0]

    lenient: Run = await asyncio.to_thread(loadgen, *common, "--no-store-audit")

    assert lenient.returncode == 0, lenient.stdout + lenient.stderr
    assert lenient.check("booked_pg_redis")["status"] == "skipped"
    assert lenient.check("final_views")["status"] == "passed"
