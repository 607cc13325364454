"""The chaos runs, short: each breaks one part of a running system under load
and needs the load generator's audit to pass (tests/chaos/scenarios.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.balancer import NoHAProxy, haproxy_binary
from tests.chaos.scenarios import (
    Plan,
    Stores,
    instance_killed,
    postgres_restarted,
    redis_restarted,
)
from tests.services import Services

# What a server logs while the store it depends on is down: its background
# loops and requests fail with the client library's connection errors.
OUTAGE = (r"redis\.exceptions\.|asyncpg\.exceptions\.|Connection(Refused|Reset)?Error|"
          r"TimeoutError|OSError|seatserver\.errors\.Unavailable|Failed to restore the pool")


@pytest.fixture
def stores(services: Services, redis_url: str, server_data_dir: Path) -> Stores:
    return Stores(redis_url, services.database_url, server_data_dir)


@pytest.fixture
def plan(tmp_path: Path) -> Plan:
    return Plan(report_dir=tmp_path)


async def test_clients_of_a_killed_instance_resume_through_the_balancer(
        stores: Stores, plan: Plan) -> None:
    try:
        haproxy_binary()
    except NoHAProxy as exc:
        pytest.fail(str(exc))
    outcome = await instance_killed(stores, plan)
    assert outcome.passed, outcome.explain()
    assert outcome.figures["reconnects"] > 0


@pytest.mark.expect_traceback(OUTAGE)
async def test_redis_restart_mid_run_answers_unavailable_then_recovers(
        stores: Stores, plan: Plan) -> None:
    outcome = await redis_restarted(stores, plan)
    assert outcome.passed, outcome.explain()


@pytest.mark.expect_traceback(OUTAGE)
async def test_postgres_restart_during_checkouts_loses_and_doubles_no_booking(
        stores: Stores, plan: Plan) -> None:
    outcome = await postgres_restarted(stores, plan)
    assert outcome.passed, outcome.explain()
    assert outcome.figures["server_500s"] == 0
