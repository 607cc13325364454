"""Bookings tests: real servers on real Redis and PostgreSQL, driven over HTTP and WS."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from seatserver.bookings.keys import Keyring, SecretStore
from seatserver.loadgen.client import new_session
from seatserver.settings import Settings
from tests.conftest import MANY_BUYERS, TEST_COSTS
from tests.realtime import conftest as realtime
from tests.realtime.conftest import ClientFactory, ServerFactory

# The realtime suite's fixtures, shared: servers, sessions, the seat list.
http = realtime.http
server = realtime.server
base_url = realtime.base_url
seats = realtime.seats
connect = realtime.connect
make_server = realtime.make_server


# Refunds above this (minor units) need an admin session's code from the last
# five minutes (tests/bookings/test_admin_api.py).
REFUND_REAUTH_ABOVE = 100


@pytest.fixture
def settings(redis_url: str, database_url: str, tmp_path: Path) -> Settings:
    # The webhook sender's chaos off by default: tests that want duplicates or
    # reordering ask for them. Rate limits far above what a test sends. The
    # mirror check only where a test asks for it: a test that flushes Redis
    # sees what a start-up, or its own server, rebuilds.
    return Settings(redis_url=redis_url, database_url=database_url, hold_ttl_s=60,
                    max_seats=4, heartbeat_s=5.0, rate_per_s=10_000, rate_burst=10_000,
                    sim_duplicate_rate=0.0, sim_reorder_rate=0.0, sim_retry_base_s=0.05,
                    pending_sweep_s=0.2, outbox_poll_s=0.1, mirror_check_s=3600,
                    refund_reauth_above=REFUND_REAUTH_ABOVE,
                    data_dir=tmp_path / "data", **MANY_BUYERS, **TEST_COSTS)


@pytest.fixture
async def keys(db_pool: asyncpg.Pool) -> Keyring:
    """The signing keys the servers generated and keep in the database (none
    are configured in these tests), as a server of ours loads them."""
    keyring = Keyring(SecretStore(db_pool), {})
    await keyring.load()
    return keyring


@pytest.fixture
def payment_key(keys: Keyring) -> str:
    return keys.signing("payment")


@pytest.fixture(autouse=True)
async def no_bookings(db_pool: Any) -> None:
    """Each test starts with no sales (the database lives for the whole session)."""
    async with db_pool.acquire() as conn:
        await conn.execute("TRUNCATE bookings, booking_seats, payments, payment_events, "
                           "ticket_scans, "
                           "idempotency_keys, audit_log, outbox, sim_provider_orders")


@pytest.fixture
async def showtime(demo: list[int]) -> int:
    # Tomorrow's show: today's may start within the sales cut-off while tests run.
    return demo[1]


@pytest.fixture
async def starts_in(db_pool: asyncpg.Pool, showtime: int) -> AsyncIterator[
        Callable[[timedelta], Awaitable[None]]]:
    """Moves the show's start to now + a delta; puts it back afterwards."""
    async with db_pool.acquire() as conn:
        original = await conn.fetchval("SELECT starts_at FROM showtimes WHERE id = $1",
                                       showtime)

    async def move(delta: timedelta) -> None:
        async with db_pool.acquire() as conn:
            await conn.execute("UPDATE showtimes SET starts_at = now() + $2 WHERE id = $1",
                               showtime, delta)
    yield move
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE showtimes SET starts_at = $2 WHERE id = $1",
                           showtime, original)


class Buyer:
    """A guest with a token, talking to the API as a non-browser client."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, token: str) -> None:
        self.http = http
        self.base = base_url
        self.token = token
        self.auth = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        headers = {**self.auth, **kwargs.pop("headers", {})}
        async with self.http.request(method, self.base + path, headers=headers,
                                     allow_redirects=False, **kwargs) as resp:
            body = await resp.json() if resp.content_type == "application/json" else None
            return resp.status, body

    async def checkout(self, showtime: int, key: str, seats: list[str] | None = None,
                       email: str | None = "buyer@example.com") -> tuple[int, Any]:
        """Check out as a guest does: the e-mail address for the ticket is needed."""
        body: dict[str, Any] = {} if seats is None else {"seats": seats}
        if email is not None:
            body["email"] = email
        return await self.call("POST", f"/api/showtimes/{showtime}/bookings", json=body,
                               headers={"Idempotency-Key": key})

    async def pay(self, checkout_url: str, action: str) -> str:
        """Click a button on the provider's page; returns where the return lands."""
        async with self.http.post(self.base + checkout_url + "/" + action,
                                  allow_redirects=False) as resp:
            assert resp.status == 303, await resp.text()
            back = urlsplit(resp.headers["Location"])
        # The path only: servers of other suites may not know their public URL.
        async with self.http.get(f"{self.base}{back.path}?{back.query}", headers=self.auth,
                                 allow_redirects=False) as resp:
            assert resp.status == 303, await resp.text()
            return resp.headers["Location"]

    async def booking(self, reference: str) -> Any:
        status, body = await self.call("GET", f"/api/bookings/{reference}")
        assert status == 200, body
        return body


@pytest.fixture
async def buyer_at(http: aiohttp.ClientSession) -> Any:
    async def make(url: str, token: str | None = None) -> Buyer:
        return Buyer(http, url, token or await new_session(http, url))
    return make


def other_db(redis_url: str, offset: int) -> str:
    """The same Redis, another database number: an independent "view" of seat state."""
    parts = urlsplit(redis_url)
    db = int(parts.path.lstrip("/") or 0)
    return parts._replace(path=f"/{db + offset}").geturl()


@pytest.fixture
async def plain_http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        yield session


__all__ = ["Buyer", "ClientFactory", "ServerFactory", "TestServer",
           "dataclasses", "other_db"]
