"""A load run against a server on a Redis Cluster: the audit reads the cluster."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.cluster.conftest import Spread, cluster, shared_cluster, spread
from tests.loadgen.conftest import Run
from tests.loadgen.test_run import EVERY_CHECK
from tests.processes import PrivateCluster, ServerProcess

__all__ = ["cluster", "shared_cluster", "spread"]  # the cluster suite's fixtures


@pytest.fixture
async def on_cluster(cluster: PrivateCluster, database_url: str, spread: Spread
                     ) -> AsyncIterator[ServerProcess]:
    server = ServerProcess({"REDIS_URL": cluster.url, "DATABASE_URL": database_url})
    await server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_a_run_on_a_redis_cluster_passes_its_audit(
        on_cluster: ServerProcess, cluster: PrivateCluster, spread: Spread,
        database_url: str, loadgen: Any) -> None:
    # Two showtimes whose keys live on two different masters.
    run: Run = await asyncio.to_thread(
        loadgen, "--url", on_cluster.url, "--clients", "20", "--duration", "5",
        "--showtimes", f"{spread.a},{spread.c}", "--checkout-share", "0.5",
        "--think", "0.2", "--redis-url", cluster.url, "--database-url", database_url)

    assert run.returncode == 0, run.stdout + run.stderr
    checks = {c["name"]: c["status"] for c in run.report["audit"]["checks"]}
    assert checks == dict.fromkeys(EVERY_CHECK, "passed")
    assert run.check("one_holder_stream")["figures"]["events"] > 0
