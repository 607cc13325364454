"""Two-factor authentication of staff: TOTP enrolment, codes, recovery codes.

An account enrols by asking for a secret (kept unconfirmed), adding it to an
authenticator app and sending back a first code; that confirms it, gives ten
recovery codes (shown once, kept as sha256 only) and marks the session as
having proved a code. From then on its log-in takes a code after the
password, and sensitive changes take one proved in the last five minutes.

Every code tried counts against a per-account limit (``Throttle``, counted
before the check; a right code gives its attempt back), a TOTP code is
accepted once (``staff_mfa.last_step`` moves forward in the same statement
that accepts it, so two requests with one code cannot both pass) and a
recovery code is used up by the statement that accepts it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg

from seatserver import redis_keys
from seatserver.accounts import totp
from seatserver.accounts.sessions import close_sessions, token_hash
from seatserver.accounts.throttle import Throttle
from seatserver.audit import Actor, insert_audit
from seatserver.errors import (
    AlreadyExists,
    InvalidCode,
    InvalidCredentials,
    NotFound,
    Unavailable,
)
from seatserver.redis_client import REDIS_DOWN, RedisClient

RECOVERY_CODES = 10
# Recovery codes: 16 characters of this alphabet (80 bits), shown in groups of four.
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no l, o, 0 or 1
_TOTP_CODE = re.compile(r"[0-9]{6}")
_RECOVERY_CODE = re.compile(r"[a-z2-9]{16}")


def new_recovery_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return "-".join(raw[i:i + 4] for i in range(0, 16, 4))


def recovery_hash(code: str) -> bytes:
    """How a recovery code is kept (and looked up): sha256 of its normal form."""
    return hashlib.sha256(code.encode()).digest()


def normal_code(code: str) -> tuple[Literal["totp", "recovery"], str] | None:
    """What kind of code was typed, in its normal form; None when it is
    neither. Spaces and hyphens are ignored, case too; only ASCII digits and
    letters count (a full-width or Arabic-Indic digit is no digit here)."""
    if not code.isascii():
        return None
    typed = code.replace(" ", "").replace("-", "").lower()
    if _TOTP_CODE.fullmatch(typed):
        return "totp", typed
    if _RECOVERY_CODE.fullmatch(typed):
        return "recovery", typed
    return None


@dataclass(frozen=True, slots=True)
class MfaStatus:
    enrolled: bool
    recovery_codes_left: int


@dataclass(frozen=True, slots=True)
class Enrolment:
    """A secret waiting for its first code."""

    secret: bytes
    uri: str


class MfaStore:
    """Secrets, accepted steps and recovery codes in PostgreSQL."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def status(self, user_id: int) -> MfaStatus:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                """SELECT m.confirmed_at IS NOT NULL AS enrolled,
                          (SELECT count(*) FROM mfa_recovery_codes r
                           WHERE r.user_id = $1 AND r.used_at IS NULL) AS left
                   FROM (SELECT $1::bigint AS user_id) u
                   LEFT JOIN staff_mfa m ON m.user_id = u.user_id""", user_id)
        return MfaStatus(bool(row["enrolled"]), row["left"])

    async def start(self, user_id: int) -> bytes:
        """A new unconfirmed secret (replacing an unconfirmed one);
        ``already_exists`` once enrolment is confirmed."""
        secret = totp.new_secret()
        async with self._pool.acquire() as conn:
            stored = await conn.fetchval(
                """INSERT INTO staff_mfa (user_id, secret) VALUES ($1, $2)
                   ON CONFLICT (user_id) DO UPDATE SET secret = $2, last_step = 0,
                          created_at = now()
                   WHERE staff_mfa.confirmed_at IS NULL
                   RETURNING user_id""", user_id, secret)
        if stored is None:
            raise AlreadyExists("two-factor authentication is set up already; an admin "
                                "can reset it")
        return secret

    async def secret(self, user_id: int, *, confirmed: bool) -> tuple[bytes, int] | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                """SELECT secret, last_step FROM staff_mfa WHERE user_id = $1
                   AND (confirmed_at IS NOT NULL) = $2""", user_id, confirmed)
        return (bytes(row["secret"]), row["last_step"]) if row else None

    async def use_step(self, user_id: int, step: int) -> bool:
        """Accept the code of ``step`` once: False when it (or a later step's
        code) was accepted already."""
        async with self._pool.acquire() as conn:
            done = await conn.fetchval(
                """UPDATE staff_mfa SET last_step = $2
                   WHERE user_id = $1 AND confirmed_at IS NOT NULL AND last_step < $2
                   RETURNING user_id""", user_id, step)
        return done is not None

    async def use_recovery_code(self, user_id: int, code: str, *,
                                remote: str | None) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            used = await conn.fetchval(
                """UPDATE mfa_recovery_codes SET used_at = now()
                   WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL
                   RETURNING user_id""", user_id, recovery_hash(code))
            if used is not None:
                await insert_audit(conn, actor=f"user:{user_id}",
                                   action="mfa.recovery_code_used", remote=remote, detail={})
        return used is not None

    async def confirm(self, user_id: int, step: int, *, session: str,
                      remote: str | None) -> list[str]:
        """Confirm enrolment with the code of ``step``: the recovery codes
        (the only time they exist outside their hashes), and the session
        ``session`` counts as having proved a code."""
        codes = [new_recovery_code() for _ in range(RECOVERY_CODES)]
        async with self._pool.acquire() as conn, conn.transaction():
            done = await conn.fetchval(
                """UPDATE staff_mfa SET confirmed_at = now(), last_step = $2
                   WHERE user_id = $1 AND confirmed_at IS NULL AND last_step < $2
                   RETURNING user_id""", user_id, step)
            if done is None:
                raise InvalidCode("this code was used already, or enrolment was not started")
            await conn.execute("DELETE FROM mfa_recovery_codes WHERE user_id = $1", user_id)
            await conn.executemany(
                "INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES ($1, $2)",
                [(user_id, recovery_hash(code.replace("-", ""))) for code in codes])
            await mark_session(conn, session)
            await insert_audit(conn, actor=f"user:{user_id}", action="mfa.enrolled",
                               remote=remote, detail={})
        return codes

    async def mark_verified(self, session: str) -> datetime:
        async with self._pool.acquire() as conn:
            return await mark_session(conn, session)

    async def reset(self, user_id: int, *, actor: Actor) -> None:
        """Forget the account's second factor and end its sessions: its next
        log-in enrols again."""
        async with self._pool.acquire() as conn, conn.transaction():
            found = await conn.fetchval("SELECT id FROM users WHERE id = $1 FOR UPDATE",
                                        user_id)
            if found is None:
                raise NotFound(f"no account {user_id}")
            removed = await conn.execute("DELETE FROM staff_mfa WHERE user_id = $1", user_id)
            await conn.execute("DELETE FROM mfa_recovery_codes WHERE user_id = $1", user_id)
            await close_sessions(conn, user_id)
            await insert_audit(conn, actor=actor.name, action="staff.mfa_reset",
                               remote=actor.remote,
                               detail={"user": user_id, "was_set_up": removed != "DELETE 0"})


async def mark_session(conn: asyncpg.Connection, session: str) -> datetime:
    """The session proved a code now; returns when."""
    at: datetime = await conn.fetchval(
        "UPDATE sessions SET mfa_at = now() WHERE token_hash = $1 RETURNING mfa_at",
        token_hash(session))
    return at


class MfaVerifier:
    """Checks codes: rate-limited per account, each accepted once."""

    def __init__(self, store: MfaStore, throttle: Throttle) -> None:
        self._store = store
        self._throttle = throttle

    async def _counted(self, user_id: int) -> None:
        await self._throttle.hit(f"user:{user_id}",
                                 "too many codes tried; wait before trying again")

    async def verify(self, user_id: int, code: str, *, remote: str | None) -> None:
        """Accept ``code`` (a TOTP code or a recovery code) for ``user_id``
        once; ``invalid_code`` otherwise."""
        await self._counted(user_id)
        typed = normal_code(code)
        if typed is not None and await self._accept(user_id, *typed, remote=remote):
            await self._throttle.refund(f"user:{user_id}")
            return
        raise InvalidCode("this code is wrong or was used already")

    async def _accept(self, user_id: int, kind: str, code: str, *, remote: str | None
                      ) -> bool:
        if kind == "recovery":
            return await self._store.use_recovery_code(user_id, code, remote=remote)
        found = await self._store.secret(user_id, confirmed=True)
        if found is None:
            return False
        secret, last_step = found
        step = totp.matching_step(secret, code, time.time(), after=last_step)
        return step is not None and await self._store.use_step(user_id, step)

    async def confirm(self, user_id: int, code: str, *, session: str,
                      remote: str | None) -> list[str]:
        """Confirm a started enrolment with its first TOTP code."""
        await self._counted(user_id)
        typed = normal_code(code)
        found = await self._store.secret(user_id, confirmed=False)
        if found is None:
            raise NotFound("no enrolment waits for a code: start one first")
        secret, last_step = found
        step = None
        if typed is not None and typed[0] == "totp":
            step = totp.matching_step(secret, typed[1], time.time(), after=last_step)
        if step is None:
            raise InvalidCode("this code is wrong: check the authenticator app's clock")
        codes = await self._store.confirm(user_id, step, session=session, remote=remote)
        await self._throttle.refund(f"user:{user_id}")
        return codes


CHALLENGE_TTL_S = 300


class LogInChallenges:
    """Log-ins whose password was right, waiting for their code, in Redis.

    The challenge token is not a session: it reaches no route but the second
    step, and is gone when that step succeeds or after five minutes. Only
    its sha256 names the key.
    """

    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis

    @staticmethod
    def _key(challenge: str) -> str | None:
        if not challenge or len(challenge) > 128:
            return None
        return redis_keys.login_challenge(hashlib.sha256(challenge.encode()).hexdigest())

    async def issue(self, user_id: int) -> str:
        challenge = secrets.token_urlsafe(32)
        key = self._key(challenge)
        assert key is not None
        try:
            await self._redis.set(key, str(user_id), ex=CHALLENGE_TTL_S)
        except REDIS_DOWN as exc:
            raise Unavailable("cannot start the log-in's second step right now") from exc
        return challenge

    async def user_of(self, challenge: str) -> int:
        key = self._key(challenge)
        try:
            found = await self._redis.get(key) if key else None
        except REDIS_DOWN as exc:
            raise Unavailable("cannot check the log-in right now") from exc
        if found is None:
            raise InvalidCredentials("this log-in has expired: enter the password again")
        return int(found)

    async def take(self, challenge: str) -> None:
        """Use the challenge up; ``invalid_credentials`` if another request did."""
        key = self._key(challenge)
        try:
            taken = await self._redis.delete(key) if key else 0
        except REDIS_DOWN as exc:
            raise Unavailable("cannot finish the log-in right now") from exc
        if not taken:
            raise InvalidCredentials("this log-in was finished already: log in again")
