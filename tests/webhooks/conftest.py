"""Webhook tests: real servers on real Redis and PostgreSQL, and a real HTTP
receiver on 127.0.0.1 that checks every signature with standardwebhooks' own
``Webhook.verify``, fails when told to, and records what it accepted."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from standardwebhooks import Webhook, WebhookVerificationError

from seatserver.http.roles import Role
from seatserver.loadgen.client import SeatClient, new_session
from seatserver.settings import Settings
from tests.accounts import conftest as accounts
from tests.admin import conftest as admin_api
from tests.admin.conftest import Admin, session_of
from tests.bookings import conftest as bookings
from tests.conftest import MANY_BUYERS, TEST_COSTS
from tests.support import eventually

http = bookings.http
server = bookings.server
base_url = bookings.base_url
seats = bookings.seats
connect = bookings.connect
make_server = bookings.make_server
buyer_at = bookings.buyer_at
showtime = bookings.showtime
no_bookings = bookings.no_bookings
starts_in = bookings.starts_in
visitor = accounts.visitor
as_role = admin_api.as_role

# Short enough that a test sees many retries; the cap keeps a back-off short too.
TIMEOUT_S = 0.5


@pytest.fixture
def settings(redis_url: str, database_url: str, tmp_path: Path) -> Settings:
    # The bookings suite's settings (payments without chaos), and webhooks
    # that may go to 127.0.0.1, polled often, retried quickly.
    return Settings(redis_url=redis_url, database_url=database_url, hold_ttl_s=60,
                    max_seats=4, heartbeat_s=5.0, rate_per_s=10_000, rate_burst=10_000,
                    sim_duplicate_rate=0.0, sim_reorder_rate=0.0, sim_retry_base_s=0.05,
                    pending_sweep_s=0.2, outbox_poll_s=0.1, mirror_check_s=3600,
                    data_dir=tmp_path / "data", **MANY_BUYERS,
                    webhook_allow_local=True, webhook_poll_s=0.05,
                    webhook_timeout_s=TIMEOUT_S, webhook_retry_base_s=0.05,
                    webhook_retry_cap_s=0.2, webhook_max_attempts=50, **TEST_COSTS)


@pytest.fixture(autouse=True)
async def no_webhooks(db_pool: asyncpg.Pool) -> None:
    """Each test starts with no endpoints (the database lives for the session)."""
    async with db_pool.acquire() as conn:
        await conn.execute("TRUNCATE webhook_endpoints, webhook_events, webhook_deliveries, "
                           "webhook_attempts, webhook_stream_cursors")


@dataclass
class Message:
    id: str
    body: dict[str, Any]

    @property
    def number(self) -> int:
        return int(self.id.removeprefix("msg_"))


@dataclass
class Receiver:
    """What a webhook endpoint sees. ``plan`` answers the next requests in
    turn (``"500"``, ``"hang"``; ``"ok"`` when it runs out); ``refuse`` fails
    every request whose body it matches, however often it comes."""

    port: int
    secret: str | None = None
    plan: list[str] = field(default_factory=list)
    refuse: Callable[[dict[str, Any]], bool] = lambda body: False
    accepted: list[Message] = field(default_factory=list)
    # Every request as it came: body and headers.
    seen: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    forged: list[str] = field(default_factory=list)
    requests: int = 0
    hanging: int = 0
    runner: web.AppRunner | None = None
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        raw = await request.read()
        self.seen.append((raw, dict(request.headers)))
        assert self.secret is not None, "a request before the endpoint was registered"
        try:
            body = Webhook(self.secret).verify(raw, dict(request.headers))
        except WebhookVerificationError as exc:
            self.forged.append(str(exc))
            return web.Response(status=400)
        step = self.plan.pop(0) if self.plan else "ok"
        message_id = request.headers["webhook-id"]
        if step == "hang":
            self.hanging += 1
            try:
                await self._release.wait()
            finally:
                self.hanging -= 1
            return web.Response(status=200)  # too late: the sender gave up
        if step != "ok" or self.refuse(body):
            return web.Response(status=int(step) if step.isdigit() else 500)
        self.accepted.append(Message(message_id, body))
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        self._release.set()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    def distinct(self, kind: str | None = None) -> list[Message]:
        """Accepted messages, each once, in the order they first arrived."""
        seen: set[str] = set()
        found = []
        for message in self.accepted:
            if message.id not in seen and (kind is None or message.body["type"] == kind):
                seen.add(message.id)
                found.append(message)
        return found

    async def wait_for(self, count: int, within: float = 10.0) -> list[Message]:
        await eventually(lambda: len(self.distinct()) >= count, within=within)
        return self.distinct()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


ReceiverFactory = Callable[..., Awaitable[Receiver]]


@pytest.fixture
async def receivers() -> AsyncIterator[ReceiverFactory]:
    made: list[Receiver] = []

    async def make(*, started: bool = True, port: int | None = None) -> Receiver:
        receiver = Receiver(port or free_port())
        made.append(receiver)
        if started:
            await receiver.start()
        return receiver

    yield make
    for receiver in made:
        await receiver.stop()


@pytest.fixture
async def receiver(receivers: ReceiverFactory) -> Receiver:
    return await receivers()


AdminFactory = Callable[[str], Awaitable[Admin]]


@pytest.fixture
async def admin_at(http: aiohttp.ClientSession, db_pool: asyncpg.Pool) -> AdminFactory:
    """An admin of the server at a URL (for tests that make their own servers)."""
    async def make(url: str) -> Admin:
        made = Admin(http, url)
        got = await session_of(db_pool, Role.ADMIN)
        assert got is not None
        made.id, made.bearer = got
        return made
    return make


@pytest.fixture
async def admin(admin_at: AdminFactory, base_url: str) -> Admin:
    return await admin_at(base_url)


def url_of(server: TestServer) -> str:
    return str(server.make_url("/")).rstrip("/")


async def seats_of(http: aiohttp.ClientSession, url: str, showtime: int) -> list[str]:
    async with http.get(f"{url}/api/showtimes/{showtime}") as resp:
        body = await resp.json()
    return [seat["id"] for seat in body["seats"]]


async def client_of(http: aiohttp.ClientSession, url: str) -> SeatClient:
    """A connected buyer of the server at ``url`` (the caller closes it)."""
    return await SeatClient(http, url, await new_session(http, url)).connect()


async def register(admin: Admin, receiver: Receiver, events: list[str],
                   **extra: Any) -> dict[str, Any]:
    """An endpoint for ``receiver``, which learns its secret."""
    endpoint: dict[str, Any] = await admin.ok(
        "POST", "/api/admin/webhooks", {"url": receiver.url, "events": events, **extra},
        status=201)
    receiver.secret = endpoint["secret"]
    return endpoint


def in_order(messages: list[Message]) -> bool:
    """Whether messages (each once) arrived in the order of their events."""
    numbers = [m.number for m in messages]
    return numbers == sorted(numbers)
