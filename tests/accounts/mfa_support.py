"""Staff accounts for tests: an admin with a known password, enrolled in
two-factor authentication through the API or straight in the database."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from seatserver.accounts import totp
from seatserver.accounts.passwords import Passwords
from seatserver.accounts.store import AccountStore
from seatserver.personal.setup import stored_keys
from tests.accounts.conftest import PASSWORD, Visitor, new_email


async def new_staff(db_pool: asyncpg.Pool, kind: str = "admin") -> tuple[int, str]:
    """A new staff account's id and e-mail; its password is ``PASSWORD``."""
    store = AccountStore(db_pool, await stored_keys(db_pool), email_ttl=timedelta(days=1),
                         reset_ttl=timedelta(hours=1))
    email = new_email()
    assert await store.ensure_staff(email, kind, await Passwords(concurrency=1).hash(PASSWORD))
    found = await store.credentials(email)
    assert found is not None
    return found.user_id, email


def code(secret: bytes, steps_ahead: int = 0) -> str:
    """The authenticator app's code now (or ``steps_ahead`` steps on: the
    server takes one step of drift, so a test has three codes per step)."""
    return totp.totp(secret, time.time() + steps_ahead * totp.STEP_S)


def secret_of(text: str) -> bytes:
    return base64.b32decode(text + "=" * (-len(text) % 8))


@dataclass
class Enrolled:
    secret: bytes
    recovery_codes: list[str]


async def enrol(visitor: Visitor) -> Enrolled:
    """Enrol the visitor's (logged-in) admin, with the code of the step before
    now: the current one and the next are left for the test."""
    status, started = await visitor.call("POST", "/api/auth/mfa/enrolment")
    assert status == 201, started
    secret = secret_of(started["secret"])
    status, confirmed = await visitor.call("POST", "/api/auth/mfa/enrolment/confirm",
                                           {"code": code(secret, -1)})
    assert status == 200, confirmed
    return Enrolled(secret, confirmed["recovery_codes"])


async def enrol_in_database(db_pool: asyncpg.Pool, user_id: int) -> bytes:
    """An enrolment as if confirmed long ago (no code used yet): its secret."""
    secret = totp.new_secret()
    async with db_pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO staff_mfa (user_id, secret, confirmed_at) VALUES ($1, $2, now())
               ON CONFLICT (user_id) DO UPDATE SET secret = $2, confirmed_at = now(),
                      last_step = 0""", user_id, secret)
    return secret
