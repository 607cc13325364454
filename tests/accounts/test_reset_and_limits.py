"""Password reset through the outbox, and the log-in rate limits."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from seatserver.accounts.sessions import SessionStore
from tests.accounts.conftest import (
    PASSWORD,
    VisitorFactory,
    link_token,
    message_to,
    messages,
    new_email,
)

NEW_PASSWORD = "a brand new passphrase"


async def test_reset_by_the_link_sent_sets_a_new_password_and_ends_every_session(
        visitor: VisitorFactory, outbox_dir: Path, db_pool: asyncpg.Pool) -> None:
    email = new_email()
    alice = await visitor()
    await alice.register(email)
    logged_in = alice.token
    assert logged_in is not None
    forgetful = await visitor()

    status, body = await forgetful.call("POST", "/api/auth/password-reset",
                                        {"email": email.upper()})
    assert status == 202
    token = link_token(await message_to(outbox_dir, email, "account_reset_password"), "reset")
    status, _ = await forgetful.call("POST", "/api/auth/password-reset/confirm",
                                     {"token": token, "password": NEW_PASSWORD})

    assert status == 204
    assert await SessionStore(db_pool).resolve(logged_in) is None
    status, _ = await forgetful.call("POST", "/api/auth/login",
                                     {"email": email, "password": PASSWORD})
    assert status == 401
    body = await forgetful.log_in(email, NEW_PASSWORD)
    assert body["user"]["email_verified"] is True  # the link reached the address
    status, answer = await forgetful.call("POST", "/api/auth/password-reset/confirm",
                                          {"token": token, "password": "yet another one"})
    assert (status, answer["error"]["code"]) == (400, "invalid_token")


async def test_reset_for_an_unknown_address_answers_the_same_and_sends_nothing(
        visitor: VisitorFactory, outbox_dir: Path) -> None:
    known = new_email()
    await (await visitor()).register(known)
    someone = await visitor()

    unknown_answer = await someone.call("POST", "/api/auth/password-reset",
                                        {"email": "nobody@example.com"})
    known_answer = await someone.call("POST", "/api/auth/password-reset", {"email": known})

    assert unknown_answer == known_answer
    await message_to(outbox_dir, known, "account_reset_password")
    assert not [text for text in messages(outbox_dir) if "nobody@example.com" in text]


async def test_an_expired_reset_link_is_refused(
        visitor: VisitorFactory, outbox_dir: Path, db_pool: asyncpg.Pool) -> None:
    email = new_email()
    await (await visitor()).register(email)
    someone = await visitor()
    await someone.call("POST", "/api/auth/password-reset", {"email": email})
    token = link_token(await message_to(outbox_dir, email, "account_reset_password"), "reset")
    async with db_pool.acquire() as conn:
        await conn.execute(
            "UPDATE account_tokens SET created_at = now() - interval '2 hours', "
            "expires_at = now() - interval '1 hour' WHERE purpose = 'reset_password'")

    status, body = await someone.call("POST", "/api/auth/password-reset/confirm",
                                      {"token": token, "password": NEW_PASSWORD})

    assert (status, body["error"]["code"]) == (400, "invalid_token")
    await someone.log_in(email)  # the password did not change


async def test_the_token_is_stored_hashed_and_erased_from_the_outbox_once_sent(
        visitor: VisitorFactory, outbox_dir: Path, db_pool: asyncpg.Pool) -> None:
    email = new_email()
    await (await visitor()).register(email)
    await (await visitor()).call("POST", "/api/auth/password-reset", {"email": email})
    token = link_token(await message_to(outbox_dir, email, "account_reset_password"), "reset")

    async def payloads() -> list[str]:
        async with db_pool.acquire() as conn:
            rows = await conn.fetch("SELECT payload::text, sent_at FROM outbox "
                                    "WHERE kind = 'account_reset_password'")
        return [r["payload"] for r in rows if r["sent_at"] is not None]

    for _ in range(100):
        if await payloads():
            break
        await asyncio.sleep(0.05)
    assert all(token not in payload for payload in await payloads())
    async with db_pool.acquire() as conn:
        stored = await conn.fetch("SELECT token_hash::text AS h, email_sealed "
                                  "FROM account_tokens")
    assert all(token not in row["h"] for row in stored)


async def test_failed_log_ins_past_the_account_limit_are_refused_even_with_the_password(
        visitor: VisitorFactory) -> None:
    email = new_email()
    await (await visitor()).register(email)
    mallory = await visitor()
    for _ in range(3):  # login_limit_account in the tests' settings
        status, _ = await mallory.call("POST", "/api/auth/login",
                                       {"email": email, "password": "guess guess"})
        assert status == 401

    owner = await visitor()  # from the same address, which is under its own limit
    status, body = await owner.call("POST", "/api/auth/login",
                                    {"email": email, "password": PASSWORD})

    assert (status, body["error"]["code"]) == (429, "rate_limited")
    assert 1 <= int(owner.headers["Retry-After"]) <= 60  # login_window_s


async def test_an_unknown_account_is_limited_like_a_known_one(visitor: VisitorFactory) -> None:
    mallory = await visitor()
    unknown = new_email()
    answers = [await mallory.call("POST", "/api/auth/login",
                                  {"email": unknown, "password": "guess guess"})
               for _ in range(4)]

    assert [status for status, _ in answers] == [401, 401, 401, 429]
    assert 1 <= int(mallory.headers["Retry-After"]) <= 60


async def test_one_address_guessing_many_accounts_is_limited(visitor: VisitorFactory) -> None:
    mallory = await visitor()
    statuses = []
    for _ in range(7):  # login_limit_address = 6 in the tests' settings
        status, _ = await mallory.call("POST", "/api/auth/login",
                                       {"email": new_email(), "password": "guess guess"})
        statuses.append(status)

    assert statuses == [401] * 6 + [429]
    assert int(mallory.headers["Retry-After"]) >= 1


async def test_a_successful_log_in_forgets_the_accounts_earlier_failures(
        visitor: VisitorFactory) -> None:
    email = new_email()
    await (await visitor()).register(email)
    alice = await visitor()
    for _ in range(2):
        await alice.call("POST", "/api/auth/login", {"email": email, "password": "typo typo"})
    await alice.log_in(email)

    for _ in range(2):
        status, _ = await alice.call("POST", "/api/auth/login",
                                     {"email": email, "password": "typo typo"})
        assert status == 401
