from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from seatserver.accounts.cookies import SessionCookies
from seatserver.accounts.http import SessionHandlers
from seatserver.accounts.proxies import TrustedProxies
from seatserver.accounts.sessions import SESSION_COOKIE, Identity, SessionStore
from seatserver.http.errors import error_middleware

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[[web.Application], Awaitable[Client]]


@pytest.fixture
def store(db_pool: asyncpg.Pool) -> SessionStore:
    return SessionStore(db_pool)


async def test_new_guest_session_resolves_to_a_new_guest_user(store: SessionStore) -> None:
    first = await store.create_guest()
    second = await store.create_guest()

    assert first.user_id != second.user_id
    assert await store.resolve(first.token) == Identity(user_id=first.user_id, kind="guest")
    assert await store.resolve(second.token) == Identity(user_id=second.user_id, kind="guest")


async def test_session_lasts_thirty_days(store: SessionStore) -> None:
    session = await store.create_guest()

    left = session.expires_at - datetime.now(UTC)
    assert timedelta(days=29, hours=23) < left <= timedelta(days=30)


async def test_only_the_hash_of_the_token_is_stored(
        store: SessionStore, db_pool: asyncpg.Pool) -> None:
    session = await store.create_guest()

    async with db_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM sessions WHERE user_id = $1", session.user_id)
    assert row is not None
    assert row["token_hash"] == hashlib.sha256(session.token.encode()).digest()
    assert session.token not in {str(value) for value in row.values()}


@pytest.mark.parametrize("token", ["", "not-a-token", "x" * 10_000])
async def test_unknown_token_resolves_to_nobody(store: SessionStore, token: str) -> None:
    assert await store.resolve(token) is None


async def test_expired_session_resolves_to_nobody(
        store: SessionStore, db_pool: asyncpg.Pool) -> None:
    session = await store.create_guest()
    async with db_pool.acquire() as conn:
        await conn.execute(
            "UPDATE sessions SET created_at = now() - interval '31 days',"
            " expires_at = now() - interval '1 day' WHERE user_id = $1", session.user_id)

    assert await store.resolve(session.token) is None


async def test_post_sessions_answers_201_with_the_token_and_a_session_cookie(
        aiohttp_client: ClientFactory, store: SessionStore) -> None:
    app = web.Application(middlewares=[error_middleware])
    app.router.add_routes(SessionHandlers(store, SessionCookies(TrustedProxies(())),
                                          TrustedProxies(()), None).routes())
    client = await aiohttp_client(app)

    resp = await client.post("/api/sessions")

    assert resp.status == 201
    body = await resp.json()
    assert set(body) == {"token", "user_id", "expires_at"}
    assert datetime.fromisoformat(body["expires_at"]) > datetime.now(UTC) + timedelta(days=29)
    cookie = resp.cookies[SESSION_COOKIE]
    assert cookie.value == body["token"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"
    assert cookie["max-age"] == str(30 * 24 * 3600)
    assert not cookie["secure"]
    assert await store.resolve(body["token"]) == Identity(body["user_id"], "guest")


async def test_session_cookie_is_secure_when_asked(
        aiohttp_client: ClientFactory, store: SessionStore) -> None:
    app = web.Application()
    app.router.add_routes(SessionHandlers(
        store, SessionCookies(TrustedProxies(()), always_secure=True), TrustedProxies(()),
        None).routes())
    client = await aiohttp_client(app)

    resp = await client.post("/api/sessions")

    assert resp.cookies[SESSION_COOKIE]["secure"] is True
