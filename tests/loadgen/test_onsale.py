"""The on-sale rush: ``seatserver loadgen --scenario onsale`` against a real
server, the waiting room's figures, and an audit that can fail."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import asyncpg
import pytest

from seatserver.accounts import totp
from seatserver.accounts.passwords import Passwords
from seatserver.accounts.store import AccountStore
from seatserver.loadgen.hostload import FORCE_ENV
from seatserver.loadgen.ledger import Grant, NotAdmitted, Wait
from seatserver.loadgen.onsale import SaleSetup
from seatserver.loadgen.queueing import check_admissions, fairness, spearman
from seatserver.loadgen.seatmap import LoadgenError
from seatserver.personal.setup import stored_keys
from tests.accounts.conftest import new_email
from tests.e2e.staff import enrol_admin
from tests.loadgen.conftest import loadgen_command, loadgen_env
from tests.loadgen.test_run import EVERY_CHECK, finish, start, stores
from tests.processes import ServerProcess

PASSWORD = "rush-hour-password-1"
# The admin's two-factor key: the load generator computes its log-in's code.
TOTP_SECRET = bytes(range(40, 60))


@pytest.fixture
async def admin_email(db_pool: asyncpg.Pool) -> AsyncIterator[str]:
    """An admin account of this test's own, with a known password."""
    store = AccountStore(db_pool, await stored_keys(db_pool), email_ttl=timedelta(days=1),
                         reset_ttl=timedelta(hours=1))
    email = new_email()
    await store.ensure_staff(email, "admin", await Passwords(concurrency=1).hash(PASSWORD))
    await enrol_admin(db_pool, email, TOTP_SECRET)
    yield email
    async with db_pool.acquire() as conn:
        await conn.execute("DELETE FROM showtime_sales")


async def sale_rows(db_pool: asyncpg.Pool, showtime: int) -> int:
    async with db_pool.acquire() as conn:
        found: int = await conn.fetchval(
            "SELECT count(*) FROM showtime_sales WHERE showtime_id = $1", showtime)
    return found


async def test_a_short_onsale_run_queues_admits_and_passes_its_audit(
        target: ServerProcess, showtime: int, redis_url: str, database_url: str,
        db_pool: asyncpg.Pool, admin_email: str, tmp_path: Path) -> None:
    prefix = tmp_path / "onsale"
    process = await start(
        "--url", target.url, "--scenario", "onsale", "--clients", "40", "--workers", "2",
        "--duration", "9", "--opens-in", "3", "--admission-rate", "1200",
        "--showtimes", str(showtime), "--think", "0.3", "--checkout-share", "0.4",
        "--abandon-share", "0.1", "--seed", "5", "--admin-email", admin_email,
        "--admin-password", PASSWORD,
        "--admin-totp-secret", totp.secret_text(TOTP_SECRET), "--report", str(prefix),
        *stores(redis_url, database_url))
    run = await finish(process, prefix)

    assert run.returncode == 0, run.stdout + run.stderr
    report = run.report
    checks = {c["name"]: c["status"] for c in report["audit"]["checks"]}
    assert checks == dict.fromkeys(EVERY_CHECK | {"queue_fairness"}, "passed")
    queue = report["queue"]
    assert queue["scenario"] == "onsale" and queue["waits"] >= 40
    room = queue["showtimes"][0]
    assert room["before_sale"] >= 30, room  # arrived before the opening
    assert room["admitted"] >= 25 and room["spearman_rho"] is not None
    assert room["fifo_violations"] == 0
    assert queue["wait"]["count"] == queue["admitted"] and queue["wait"]["p99_ms"] > 0
    assert queue["settings"][0]["set_by_loadgen"] and queue["settings"][0]["restored"] == "yes"
    assert report["totals"]["hold.ok"] > 10
    admissions = run.check("admissions")["figures"]
    assert admissions["grants_in_waiting_rooms"] == report["totals"]["hold.ok"]
    assert "waiting room:" in run.stdout and "Waiting room" in run.html
    assert PASSWORD not in prefix.with_suffix(".json").read_text()
    # The showtime went back to the defaults it had.
    assert await sale_rows(db_pool, showtime) == 0
    # The server's own figures beside the clients', and the load generator's CPU:
    server = report["server_latency"]
    assert server["processes"] == 1 and not server["notes"], server
    hold = server["pairs"]["hold"]
    assert hold["server"]["count"] >= report["totals"]["hold.ok"]
    assert 0 < hold["server"]["p99_ms"] <= report["latency"]["hold"]["max_ms"] + 1
    assert hold["client"]["p99_ms"] == report["latency"]["hold"]["p99_ms"]
    assert server["pairs"]["checkout"]["server"]["count"] >= report["totals"]["checkout.booked"]
    cpu = report["loadgen_cpu"]
    assert cpu["cpu_s"] > 0 and cpu["workers_cpu_s"] > 0 and cpu["cores"] > 0
    assert 0 < cpu["share_of_cores"] < 1 and not cpu["saturated"] and cpu["warning"] is None
    assert "load generator CPU:" in run.stdout and "The load generator itself" in run.html
    assert "the server's own latency" in run.stdout and "WARNING" not in run.stderr


async def test_a_saturated_load_generator_warns_live_and_in_the_report(
        target: ServerProcess, showtime: int, tmp_path: Path) -> None:
    """The test seam reports every CPU sample at 100 % of the cores: the
    warning comes while the run goes (stderr, even with --quiet), and in both
    reports."""
    prefix = tmp_path / "saturated"
    command = loadgen_command(
        "--url", target.url, "--clients", "10", "--duration", "5", "--think", "0.3",
        "--showtimes", str(showtime), "--no-store-audit", "--report", str(prefix))
    process = await asyncio.create_subprocess_exec(
        *command, env={**loadgen_env(), FORCE_ENV: "1.0"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    warned_at = None
    assert process.stderr is not None
    async for line in process.stderr:
        if b"WARNING: the load generator's host was saturated" in line:
            warned_at = time.monotonic()
            break
    run = await finish(process, prefix)

    assert warned_at is not None, run.stderr
    assert run.returncode == 0, run.stdout + run.stderr
    cpu = run.report["loadgen_cpu"]
    assert cpu["saturated"] and cpu["forced"] == 1.0
    assert cpu["episodes"][0]["to_s"] - cpu["episodes"][0]["from_s"] >= 2
    assert "saturated" in cpu["warning"] and "Warning: the load generator" in run.html
    assert "WARNING: the load generator's host was saturated" in run.stdout


def wait(client: str, user: int, sent: float, state: str, admitted_at: int | None,
         showtime: int = 1) -> Wait:
    record = Wait(client, user, showtime, sent, sent + 5, state)
    if admitted_at is not None:
        record.admitted_ms, record.expires_at, record.outcome = (
            admitted_at + 50.0, admitted_at + 600_000, "admitted")
    return record


def test_the_audit_fails_a_hold_granted_without_an_admission() -> None:
    """Forged records: a grant in a waiting room to a buyer never told it was
    admitted, and one refused not_admitted while its admission was live."""
    honest = Grant("c1", 11, 1, ("A1",), 1000.0, 1010.0, 9_000_000, gated=True, admitted=True)
    forged = Grant("c2", 12, 1, ("A2",), 1000.0, 1010.0, 9_000_000, gated=True, admitted=False)
    late_news = Grant("c3", 13, 1, ("A3",), 1000.0, 1010.0, 9_000_000, gated=True,
                      admitted=False)
    waits = [wait("c3", 13, 0.0, "waiting", 1005)]  # admitted before its hold, told after
    refused = NotAdmitted("c4", 14, 1, 2000.0, 2010.0, admission_ends=600_000)

    clean = check_admissions([honest, late_news], [], waits, clock_ahead_ms=0.0)
    assert clean.violations == 0, clean.details

    caught = check_admissions([honest, forged, late_news], [refused], waits, clock_ahead_ms=0.0)
    assert caught.violations == 2
    assert "c2 was granted A2 without an admission" in caught.details[0]
    assert "c4 was refused not_admitted" in caught.details[1]


def test_fairness_figures_see_order_kept_before_the_opening_and_queue_jumps_after() -> None:
    in_order = [wait(f"c{i}", i, 100.0 * i, "before_sale", 10_000 + i) for i in range(30)]
    shuffled = [wait(f"c{i}", i, 100.0 * i, "before_sale", 10_000 + (i * 7) % 30)
                for i in range(30)]
    jumper = [wait("late1", 90, 5000.0, "waiting", 20_000),
              wait("late2", 91, 6000.0, "waiting", 19_000)]  # joined later, in earlier

    kept = fairness(in_order)[0]
    fair = fairness([*shuffled, *jumper])[0]

    assert kept["spearman_rho"] == 1.0 and kept["spearman_rho"] > kept["rho_bound"]
    assert abs(fair["spearman_rho"]) < fair["rho_bound"]
    assert fair["fifo_violations"] == 1
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0


async def test_onsale_without_admin_needs_a_waiting_room_already_set(
        target: ServerProcess, showtime: int, tmp_path: Path) -> None:
    prefix = tmp_path / "unset"
    process = await start("--url", target.url, "--scenario", "onsale", "--showtimes",
                          str(showtime), "--duration", "6", "--report", str(prefix))
    run = await asyncio.wait_for(finish(process, prefix), 60)

    assert run.returncode == 2, run.stdout + run.stderr
    assert f"showtime {showtime} has no waiting room" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(("key", "said"), [("not base32!", "is not base32"),
                                           ("AAAAAAAA", "is no TOTP key")])
def test_a_key_that_is_no_totp_key_is_said_not_a_traceback(key: str, said: str) -> None:
    # 40 bits: pyotp refuses keys under 112 bits with a ValueError.
    setup = SaleSetup(None, SimpleNamespace(admin_totp_secret=key))  # type: ignore[arg-type]
    with pytest.raises(LoadgenError, match=said):
        setup._code()
