"""Backup and recovery, end to end: pg_dump the record, restore it into an empty
database, rebuild a lost Redis with `seatserver reconcile`; no booking is lost.

The procedure is the one in docs/operations.md, step by step.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis

from seatserver import redis_keys
from seatserver.embedded import pg_bin
from seatserver.loadgen.client import SeatClient
from tests.bookings.conftest import Buyer, ServerFactory
from tests.test_cli import seatserver

BuyerFactory = Callable[..., Awaitable[Buyer]]


async def buy(buyer: Buyer, showtime: int, seats: list[str], action: str = "pay") -> str:
    async with SeatClient(buyer.http, buyer.base, buyer.token) as client:
        assert (await client.hold(showtime, seats))["ok"]
    status, booking = await buyer.checkout(showtime, secrets.token_hex(4))
    assert status == 201, booking
    if action:
        await buyer.pay(booking["checkout_url"], action)
    reference: str = booking["reference"]
    return reference


async def tool(dsn: str, name: str) -> Path:
    """pg_dump/pg_restore of the server's own major version: a newer pg_restore
    writes settings an older server refuses (transaction_timeout on 15)."""
    conn = await asyncpg.connect(dsn)
    try:
        major = int(await conn.fetchval("SHOW server_version_num")) // 10_000
    finally:
        await conn.close()
    return _binary(major, name)


def _binary(major: int, name: str) -> Path:
    system = Path(f"/usr/lib/postgresql/{major}/bin/{name}")
    found = system if system.exists() else pg_bin(name)
    assert found.exists(), f"no {name} for PostgreSQL {major}"
    return found


def run(*argv: str | Path) -> None:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 0, f"{argv[0]} failed:\n{done.stdout}\n{done.stderr}"


# The restored database is dropped at teardown while the server on it still
# runs: its background loops see connections killed and the database gone.
@pytest.mark.expect_traceback(r"InvalidCatalogNameError|cannot switch to state \d+; another "
                              r"operation \(\d+\) is in progress")
async def test_dump_restore_and_reconcile_lose_no_booking(
        buyer_at: BuyerFactory, base_url: str, showtime: int, seats: list[str],
        database_url: str, fresh_database_url: str, redis_url: str, tmp_path: Path,
        make_server: ServerFactory, db_pool: asyncpg.Pool) -> None:
    sold: dict[str, tuple[Buyer, list[str]]] = {}
    for n in range(3):
        buyer = await buyer_at(base_url)
        wanted = seats[n * 2:n * 2 + 2]
        sold[await buy(buyer, showtime, wanted)] = (buyer, wanted)
    declined = await buy(await buyer_at(base_url), showtime, seats[10:11], "decline")
    async with db_pool.acquire() as conn:
        booked = await conn.fetch("SELECT reference, status FROM bookings ORDER BY id")
    assert {r["reference"]: r["status"] for r in booked} == {
        **dict.fromkeys(sold, "booked"), declined: "expired"}

    # 1. Back up the record (custom format: compressed, restorable table by table).
    dump = tmp_path / "seatserver.dump"
    await asyncio.to_thread(run, await tool(database_url, "pg_dump"), "--format=custom",
                            "--no-owner", f"--file={dump}", database_url)
    # 2. Disaster: Redis loses everything.
    with redis.Redis.from_url(redis_url) as r:
        r.flushdb()
    # 3. Restore into an empty database, then let Redis learn the sales from it.
    await asyncio.to_thread(run, await tool(fresh_database_url, "pg_restore"), "--no-owner",
                            "--exit-on-error", f"--dbname={fresh_database_url}", dump)
    result = await asyncio.to_thread(seatserver, "reconcile", REDIS_URL=redis_url,
                                     DATABASE_URL=fresh_database_url)
    assert result.returncode == 0, result.stderr

    # Every sale is back, in PostgreSQL and in Redis, and served by a new instance.
    every_sold = {seat for _, wanted in sold.values() for seat in wanted}
    with redis.Redis.from_url(redis_url) as r:
        assert {s.decode() for s in r.smembers(redis_keys.booked(showtime))} == every_sold
    restored = await make_server(database_url=fresh_database_url)
    url = str(restored.make_url("/")).rstrip("/")
    for reference, (owner, wanted) in sold.items():
        # The buyers' sessions came back too: each still sees its own booking.
        again = await buyer_at(url, token=owner.token)
        body: Any = await again.booking(reference)
        assert body["status"] == "booked"
        assert sorted(s["id"] if isinstance(s, dict) else s for s in body["seats"]) == sorted(
            wanted)
    newcomer = await buyer_at(url)
    async with SeatClient(newcomer.http, url, newcomer.token) as client:
        await client.subscribe(showtime)
        assert client.views[showtime].booked == every_sold
        refused = await client.hold(showtime, sorted(every_sold)[:1])
        assert refused["ok"] is False and refused["code"] == "seats_unavailable"
