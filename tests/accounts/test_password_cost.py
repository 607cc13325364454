"""The test suites' cheap password hashes (SEATSERVER_PASSWORD_COST=test) never
stay: the standard cost takes them for outdated, and a log-in makes them anew."""

from __future__ import annotations

import logging

import aiohttp
import asyncpg
import pytest
from argon2 import PasswordHasher

from seatserver.accounts.passwords import Passwords
from seatserver.settings import Settings
from tests.accounts.conftest import PASSWORD, Visitor, VisitorFactory, new_email
from tests.personal_support import user_id_of
from tests.realtime.conftest import ServerFactory


async def test_the_test_cost_is_cheap_and_outdated_for_the_standard_one() -> None:
    cheap = await Passwords(cost="test").hash(PASSWORD)
    standard = await Passwords().hash(PASSWORD)

    assert PasswordHasher().verify(cheap, PASSWORD)
    assert "$m=1024,t=1,p=1$" in cheap and "$m=65536,t=3,p=4$" in standard
    assert Passwords().needs_rehash(cheap)
    assert not Passwords().needs_rehash(standard)
    with pytest.raises(ValueError, match="unknown password cost"):
        Passwords(cost="cheap")


async def test_a_log_in_at_the_standard_cost_makes_a_test_cost_hash_anew(
        settings: Settings, visitor: VisitorFactory, make_server: ServerFactory,
        db_pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture) -> None:
    assert settings.password_cost == "test"  # the suite's (tests/conftest.py TEST_COSTS)
    email = new_email()
    await (await visitor()).register(email)  # hashed at the test cost
    user_id = await user_id_of(db_pool, email)
    before = await db_pool.fetchval("SELECT password_hash FROM users WHERE id = $1", user_id)
    assert "$m=1024,t=1,p=1$" in before

    with caplog.at_level(logging.WARNING, logger="seatserver.accounts.setup"):
        standard = await make_server(password_cost="standard")
        await make_server()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        status, _ = await Visitor(http, str(standard.make_url("/")).rstrip("/")).call(
            "POST", "/api/auth/login", {"email": email, "password": PASSWORD})

    assert status == 200
    after = await db_pool.fetchval("SELECT password_hash FROM users WHERE id = $1", user_id)
    assert "$m=65536,t=3,p=4$" in after and PasswordHasher().verify(after, PASSWORD)
    # Only the server with cheap hashes says so, at its start.
    warned = [r.getMessage() for r in caplog.records
              if "SEATSERVER_PASSWORD_COST" in r.getMessage()]
    assert warned == ["SEATSERVER_PASSWORD_COST=test: password hashes are cheap to guess; "
                      "this is for test suites, never for real accounts"]
