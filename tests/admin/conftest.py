"""Admin API tests: a real server (create_app) on real Redis and PostgreSQL,
called with Bearer sessions of freshly made users of each role."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
import pytest

from seatserver.accounts.sessions import open_session
from seatserver.http.roles import Role
from tests.accounts import conftest as accounts
from tests.accounts.conftest import Visitor, VisitorFactory, new_email

http = accounts.http
make_server = accounts.make_server
server = accounts.server
base_url = accounts.base_url
settings = accounts.settings
visitor = accounts.visitor


async def session_of(db_pool: asyncpg.Pool, role: Role) -> tuple[int, str] | None:
    """A new user of ``role`` and a session token for it (None: anonymous)."""
    if role is Role.ANONYMOUS:
        return None
    async with db_pool.acquire() as conn:
        if role is Role.GUEST:
            user_id = await conn.fetchval(
                "INSERT INTO users (kind) VALUES ('guest') RETURNING id")
        else:
            user_id = await conn.fetchval(
                "INSERT INTO users (kind, email, password_hash) VALUES ($1, $2, $3) "
                "RETURNING id", role.value, new_email(), "$argon2id$not-a-real-hash")
        return user_id, (await open_session(conn, user_id, mfa=True)).token


class Admin(Visitor):
    """An admin calling the API with a Bearer token; ``id`` is its user id."""

    id: int

    async def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        got, answer = await self.call(method, path, body)
        assert got == status, (method, path, got, answer)
        return answer

    async def refused(self, method: str, path: str, body: Any, status: int, code: str) -> str:
        """The message of a refusal, after checking its status and code."""
        got, answer = await self.call(method, path, body)
        assert (got, answer["error"]["code"]) == (status, code), answer
        message: str = answer["error"]["message"]
        return message


@pytest.fixture
async def as_role(visitor: VisitorFactory, db_pool: asyncpg.Pool) -> Any:
    async def make(role: Role) -> Admin:
        caller = await visitor()
        admin = Admin(caller.http, caller.base)
        made = await session_of(db_pool, role)
        if made is not None:
            admin.id, admin.bearer = made
        return admin
    return make


@pytest.fixture
async def admin(as_role: Any) -> Admin:
    made: Admin = await as_role(Role.ADMIN)
    return made


async def audit_rows(db_pool: asyncpg.Pool, admin_id: int) -> list[dict[str, Any]]:
    """The audit log of one admin, oldest first, detail decoded."""
    async with db_pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT action, remote, booking_id, detail::text AS detail FROM audit_log "
            "WHERE actor = $1 ORDER BY id", f"user:{admin_id}")
    return [{"action": r["action"], "remote": r["remote"], "booking_id": r["booking_id"],
             **orjson.loads(r["detail"])} for r in rows]
