"""A run against a server with the public per-address limits: the load generator
says that the server's limits refused it, and which settings to raise."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.loadgen.conftest import Run
from tests.processes import ServerProcess


async def test_a_run_refused_by_the_servers_address_limits_says_which_settings_to_raise(
        redis_url: str, database_url: str, demo: list[int], loadgen: Any) -> None:
    # Tighter than the defaults (30 sessions a minute, 40 seats), so that a
    # short run meets both.
    server = ServerProcess({"REDIS_URL": redis_url, "DATABASE_URL": database_url,
                            "SEATSERVER_GUEST_SESSIONS_PER_MINUTE": "12",
                            "SEATSERVER_MAX_SEATS_PER_ADDRESS": "6"})
    await server.start()
    try:
        run: Run = await asyncio.to_thread(
            loadgen, "--url", server.url, "--clients", "30", "--duration", "6",
            "--showtimes", str(demo[1]), "--checkout-share", "0", "--think", "0.2",
            "--arrival-rate", "0", "--kiosks", "0", "--seed", "3", "--no-store-audit")
    finally:
        server.stop()

    limits = {limit["setting"]: limit for limit in run.report["server_limits"]}
    assert set(limits) == {"SEATSERVER_GUEST_SESSIONS_PER_MINUTE",
                           "SEATSERVER_MAX_SEATS_PER_ADDRESS"}, run.stdout
    assert limits["SEATSERVER_GUEST_SESSIONS_PER_MINUTE"]["count"] >= 18
    assert run.report["totals"]["visit.failed.rate_limited"] >= 18
    assert limits["SEATSERVER_MAX_SEATS_PER_ADDRESS"]["count"] >= 1
    assert run.report["errors"]["hold"]["too_many_seats"] >= 1
    printed = " ".join(run.stdout.split())
    assert "raise SEATSERVER_GUEST_SESSIONS_PER_MINUTE on it for a load test" in printed
    assert "raise SEATSERVER_MAX_SEATS_PER_ADDRESS on it for a load test" in printed
    assert "SEATSERVER_MAX_SEATS_PER_ADDRESS" in run.html
