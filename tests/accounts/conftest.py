"""Accounts tests: real servers (create_app) on real Redis and PostgreSQL,
driven over HTTP like a browser (cookies, CSRF header) or an app (Bearer)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from seatserver.accounts.csrf import CSRF_COOKIE, CSRF_HEADER
from seatserver.accounts.sessions import SESSION_COOKIE
from seatserver.settings import Settings
from tests.conftest import MANY_BUYERS, TEST_COSTS
from tests.realtime import conftest as realtime
from tests.support import eventually

http = realtime.http
make_server = realtime.make_server
server = realtime.server
base_url = realtime.base_url

PASSWORD = "correct horse battery"


@pytest.fixture
def settings(redis_url: str, database_url: str, tmp_path: Path) -> Settings:
    return Settings(redis_url=redis_url, database_url=database_url, hold_ttl_s=60,
                    max_seats=4, heartbeat_s=5.0, rate_per_s=10_000, rate_burst=10_000,
                    sim_duplicate_rate=0.0, sim_reorder_rate=0.0, sim_retry_base_s=0.05,
                    outbox_poll_s=0.05, data_dir=tmp_path / "data",
                    login_limit_account=3, login_limit_address=6, login_window_s=60,
                    **MANY_BUYERS, **TEST_COSTS)


@pytest.fixture
def outbox_dir(settings: Settings) -> Path:
    return settings.data_dir / "outbox"


def new_email() -> str:
    """Addresses unique across the test session (its database outlives each test)."""
    return f"user-{secrets.token_hex(5)}@example.com"


class Visitor:
    """One person's browser: its own cookie jar, the CSRF header from the cookie.

    ``bearer`` makes it a non-browser client instead: a token, no cookies.
    """

    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self.http = http
        self.base = base_url
        self.bearer: str | None = None
        # The last answer's headers and Set-Cookie morsels.
        self.headers: Any = {}
        self.set_cookies: Any = {}

    def cookie(self, name: str) -> str | None:
        morsel = self.http.cookie_jar.filter_cookies(URL(self.base)).get(name)
        return morsel.value if morsel else None

    @property
    def token(self) -> str | None:
        """The session token, whichever way this visitor carries it."""
        return self.bearer or self.cookie(SESSION_COOKIE)

    async def call(self, method: str, path: str, body: Any = None, *, csrf: bool = True,
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:
        sent = dict(headers or {})
        if self.bearer:
            sent["Authorization"] = f"Bearer {self.bearer}"
        elif csrf and self.cookie(CSRF_COOKIE):
            sent[CSRF_HEADER] = self.cookie(CSRF_COOKIE) or ""
        async with self.http.request(method, self.base + path, json=body, headers=sent,
                                     allow_redirects=False) as resp:
            self.headers, self.set_cookies = resp.headers, resp.cookies
            answer = await resp.json() if resp.content_type == "application/json" else None
            return resp.status, answer

    async def guest(self) -> int:
        status, body = await self.call("POST", "/api/sessions")
        assert status == 201, body
        user_id: int = body["user_id"]
        return user_id

    async def register(self, email: str, password: str = PASSWORD, **extra: Any) -> Any:
        status, body = await self.call("POST", "/api/auth/register",
                                       {"email": email, "password": password, **extra})
        assert status == 201, body
        return body

    async def log_in(self, email: str, password: str = PASSWORD) -> Any:
        status, body = await self.call("POST", "/api/auth/login",
                                       {"email": email, "password": password})
        assert status == 200, body
        return body


VisitorFactory = Callable[[], Awaitable[Visitor]]


@pytest.fixture
async def visitor(base_url: str) -> AsyncIterator[VisitorFactory]:
    sessions: list[aiohttp.ClientSession] = []

    async def make() -> Visitor:
        jar = aiohttp.CookieJar(unsafe=True)  # the test server is an IP address
        session = aiohttp.ClientSession(cookie_jar=jar)
        sessions.append(session)
        return Visitor(session, base_url)

    yield make
    for session in sessions:
        await session.close()


def messages(outbox_dir: Path) -> list[str]:
    """Every message the outbox's log sink has written so far."""
    return [p.read_text() for p in sorted(outbox_dir.glob("*.txt"))]


async def message_to(outbox_dir: Path, to: str, kind: str, *, nth: int = 1,
                     within: float = 10.0) -> str:
    """The text of the ``nth`` message of ``kind`` the outbox's log sink wrote to
    ``to`` (waiting for it to be written)."""
    found: list[str] = []

    def look() -> bool:
        found[:] = [p.read_text() for p in sorted(outbox_dir.glob(f"*-{kind}.txt"))
                    if p.read_text().startswith(f"To: {to}\n")]
        return len(found) >= nth

    await eventually(look, within=within)
    return found[nth - 1]


def link_token(message: str, parameter: str) -> str:
    """The token of the ``/account?<parameter>=...`` link in a message."""
    marker = f"/account?{parameter}="
    start = message.index(marker) + len(marker)
    return message[start:].split()[0]
