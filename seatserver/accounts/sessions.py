"""Sessions: who a token stands for.

A token is 32 random bytes (URL-safe base64) handed to the client once; the
database keeps only its sha256, so reading the sessions table gives no one a
login. Browsers carry the token in the ``SESSION_COOKIE`` cookie, other
clients in ``Authorization: Bearer``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

SESSION_COOKIE = "seatserver_session"
SESSION_LIFETIME = timedelta(days=30)
# token_urlsafe(32) is 43 characters; anything far longer is not ours, and
# hashing it would only cost time.
_MAX_TOKEN_LENGTH = 256


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a request or WebSocket connection acts for."""

    user_id: int
    kind: str
    # When the session last proved a two-factor code (None: never, password only).
    mfa_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session just created; ``token`` is shown to the client once and never again."""

    token: str
    user_id: int
    expires_at: datetime


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _fresh_token() -> tuple[str, datetime]:
    """A new session's token and when it expires."""
    return secrets.token_urlsafe(32), datetime.now(UTC) + SESSION_LIFETIME


async def open_session(conn: asyncpg.Connection, user_id: int, *,
                       mfa: bool = False) -> NewSession:
    """A new session for ``user_id``, inside the caller's transaction;
    ``mfa``: its log-in proved a two-factor code just now."""
    token, expires_at = _fresh_token()
    await conn.execute(
        """INSERT INTO sessions (token_hash, user_id, expires_at, mfa_at)
           VALUES ($1, $2, $3, CASE WHEN $4 THEN now() END)""",
        token_hash(token), user_id, expires_at, mfa,
    )
    return NewSession(token=token, user_id=user_id, expires_at=expires_at)


async def close_sessions(conn: asyncpg.Connection, user_id: int) -> None:
    """End every session of ``user_id`` (a password reset, a guest merged away)."""
    await conn.execute("DELETE FROM sessions WHERE user_id = $1", user_id)


class SessionStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_guest(self) -> NewSession:
        """Create a guest user and a session for it, in one statement (so
        atomic, without a transaction's BEGIN and COMMIT round trips: every
        arriving buyer pays for this, thousands a minute on an opening night)."""
        token, expires_at = _fresh_token()
        async with self._pool.acquire() as conn:
            user_id: int = await conn.fetchval(
                """
                WITH guest AS (INSERT INTO users (kind) VALUES ('guest') RETURNING id)
                INSERT INTO sessions (token_hash, user_id, expires_at)
                SELECT $1, id, $2 FROM guest
                RETURNING user_id
                """,
                token_hash(token), expires_at,
            )
        return NewSession(token=token, user_id=user_id, expires_at=expires_at)

    async def close(self, token: str) -> None:
        """End the session of ``token`` (log-out); unknown tokens are ignored."""
        if not token or len(token) > _MAX_TOKEN_LENGTH:
            return
        async with self._pool.acquire() as conn:
            await conn.execute("DELETE FROM sessions WHERE token_hash = $1", token_hash(token))

    async def resolve(self, token: str) -> Identity | None:
        """The identity behind a token; None when unknown or expired."""
        if not token or len(token) > _MAX_TOKEN_LENGTH:
            return None
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                """
                SELECT u.id, u.kind, s.mfa_at
                FROM sessions s JOIN users u ON u.id = s.user_id
                WHERE s.token_hash = $1 AND s.expires_at > now() AND u.disabled_at IS NULL
                """,
                token_hash(token),
            )
        if row is None:
            return None
        return Identity(user_id=row["id"], kind=row["kind"], mfa_at=row["mfa_at"])

    async def mfa_enrolled(self, user_id: int) -> bool:
        """Whether the user has confirmed two-factor enrolment."""
        async with self._pool.acquire() as conn:
            enrolled: bool = await conn.fetchval(
                """SELECT EXISTS (SELECT 1 FROM staff_mfa
                                  WHERE user_id = $1 AND confirmed_at IS NOT NULL)""",
                user_id)
        return enrolled
