"""Load generator tests: ``seatserver loadgen`` as a real process against a
real ``seatserver serve`` process on the test session's Redis and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.processes import ServerProcess

URL_VARS = ("REDIS_URL", "DATABASE_URL", "TEST_REDIS_URL", "TEST_DATABASE_URL")


@pytest.fixture(autouse=True)
async def no_bookings(db_pool: asyncpg.Pool) -> None:
    """Each run starts with no sales (the database lives for the whole session).
    CASCADE: whatever else records sales (tickets scanned, ...) goes with them."""
    async with db_pool.acquire() as conn:
        await conn.execute("TRUNCATE bookings, payments, payment_events, idempotency_keys, "
                           "audit_log, outbox, sim_provider_orders CASCADE")


@pytest.fixture
async def target(redis_url: str, database_url: str, demo: list[int]
                 ) -> AsyncIterator[ServerProcess]:
    """A ``seatserver serve`` process: what the load generator plays against."""
    server = ServerProcess({"REDIS_URL": redis_url, "DATABASE_URL": database_url})
    await server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def showtime(demo: list[int]) -> int:
    # Tomorrow's show: today's may be within the sales cut-off while tests run.
    return demo[1]


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    prefix: Path

    @property
    def report(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.prefix.with_suffix(".json").read_text())
        return body

    @property
    def html(self) -> str:
        return self.prefix.with_suffix(".html").read_text()

    def check(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = next(c for c in self.report["audit"]["checks"]
                                     if c["name"] == name)
        return found


def loadgen_env() -> dict[str, str]:
    """The environment minus the store URLs: a test passes them explicitly."""
    return {k: v for k, v in os.environ.items() if k not in URL_VARS}


def loadgen_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "seatserver", "loadgen", "--quiet", *args]


@pytest.fixture
def loadgen(tmp_path: Path) -> Iterator[Any]:
    def run(*args: str, timeout: float = 120) -> Run:
        prefix = tmp_path / "report"
        done = subprocess.run(loadgen_command(*args, "--report", str(prefix)),
                              env=loadgen_env(), capture_output=True, text=True,
                              timeout=timeout, check=False)
        return Run(done.returncode, done.stdout, done.stderr, prefix)
    yield run
