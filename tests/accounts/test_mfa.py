"""Two-factor authentication through the wire: enrolment, the two-step
log-in, recovery codes, replays, the rate limit and hostile codes."""

from __future__ import annotations

import hashlib

import asyncpg
import pytest

from seatserver.accounts.sessions import SESSION_COOKIE
from tests.accounts.conftest import PASSWORD, Visitor, VisitorFactory
from tests.accounts.mfa_support import code, enrol, enrol_in_database, new_staff


async def password_step(visitor: Visitor, email: str) -> str:
    status, body = await visitor.call("POST", "/api/auth/login",
                                      {"email": email, "password": PASSWORD})
    assert (status, body["mfa"]) == (202, "code_required"), body
    assert SESSION_COOKIE not in visitor.set_cookies
    challenge: str = body["challenge"]
    return challenge


async def test_an_admin_without_mfa_is_sent_to_enrol_and_then_gets_through(
        visitor: VisitorFactory, db_pool: asyncpg.Pool) -> None:
    _, email = await new_staff(db_pool)
    admin = await visitor()
    await admin.log_in(email)

    refused = await admin.call("GET", "/api/admin/staff")
    status, mfa = await admin.call("GET", "/api/auth/mfa")
    await enrol(admin)
    allowed = await admin.call("GET", "/api/admin/staff")

    assert (refused[0], refused[1]["error"]["code"]) == (403, "mfa_enrolment_required")
    assert (status, mfa["required"], mfa["enrolled"]) == (200, True, False)
    assert allowed[0] == 200
    assert email in [m["email"] for m in allowed[1]["staff"]]


async def test_log_in_takes_the_password_then_a_code(
        visitor: VisitorFactory, db_pool: asyncpg.Pool) -> None:
    _, email = await new_staff(db_pool)
    first = await visitor()
    await first.log_in(email)
    enrolled = await enrol(first)
    admin = await visitor()

    challenge = await password_step(admin, email)
    before = await admin.call("GET", "/api/admin/staff")
    as_token = await admin.call("GET", "/api/me",
                                headers={"Authorization": f"Bearer {challenge}"})
    status, body = await admin.call("POST", "/api/auth/login/code",
                                    {"challenge": challenge, "code": code(enrolled.secret)})
    after = await admin.call("GET", "/api/admin/staff")

    assert before[0] == 401 and as_token[0] == 401  # the password alone is no session
    assert (status, body["user"]["email"]) == (200, email)
    assert after[0] == 200


async def test_a_code_is_accepted_once(visitor: VisitorFactory, db_pool: asyncpg.Pool
                                       ) -> None:
    user_id, email = await new_staff(db_pool)
    secret = await enrol_in_database(db_pool, user_id)
    first, second = await visitor(), await visitor()
    typed = code(secret)

    done = await first.call("POST", "/api/auth/login/code",
                            {"challenge": await password_step(first, email), "code": typed})
    replayed = await second.call("POST", "/api/auth/login/code",
                                 {"challenge": await password_step(second, email),
                                  "code": typed})
    # An older code than the one accepted is refused too.
    older = await second.call("POST", "/api/auth/login/code",
                              {"challenge": await password_step(second, email),
                               "code": code(secret, -1)})

    assert done[0] == 200
    assert (replayed[0], replayed[1]["error"]["code"]) == (401, "invalid_code")
    assert (older[0], older[1]["error"]["code"]) == (401, "invalid_code")


async def test_a_challenge_finishes_one_log_in(visitor: VisitorFactory,
                                               db_pool: asyncpg.Pool) -> None:
    user_id, email = await new_staff(db_pool)
    secret = await enrol_in_database(db_pool, user_id)
    admin = await visitor()
    challenge = await password_step(admin, email)

    done = await admin.call("POST", "/api/auth/login/code",
                            {"challenge": challenge, "code": code(secret)})
    again = await admin.call("POST", "/api/auth/login/code",
                             {"challenge": challenge, "code": code(secret, 1)})

    assert done[0] == 200
    assert (again[0], again[1]["error"]["code"]) == (401, "invalid_credentials")


async def test_a_recovery_code_works_once_and_is_kept_hashed(
        visitor: VisitorFactory, db_pool: asyncpg.Pool) -> None:
    user_id, email = await new_staff(db_pool)
    admin = await visitor()
    await admin.log_in(email)
    enrolled = await enrol(admin)
    recovery = enrolled.recovery_codes[3]
    async with db_pool.acquire() as conn:
        stored = [bytes(r["code_hash"]) for r in await conn.fetch(
            "SELECT code_hash FROM mfa_recovery_codes WHERE user_id = $1", user_id)]

    first = await admin.call("POST", "/api/auth/login/code", {
        "challenge": await password_step(admin, email), "code": recovery.upper()})
    second = await admin.call("POST", "/api/auth/login/code", {
        "challenge": await password_step(admin, email), "code": recovery})
    _, mfa = await admin.call("GET", "/api/auth/mfa")

    assert len(enrolled.recovery_codes) == len(set(enrolled.recovery_codes)) == 10
    assert len(stored) == 10
    assert hashlib.sha256(recovery.replace("-", "").encode()).digest() in stored
    assert not any(c.replace("-", "").encode() in b"".join(stored)
                   for c in enrolled.recovery_codes)
    assert first[0] == 200
    assert (second[0], second[1]["error"]["code"]) == (401, "invalid_code")
    assert mfa["recovery_codes_left"] == 9


async def test_wrong_codes_past_the_limit_are_refused_even_the_right_one(
        visitor: VisitorFactory, db_pool: asyncpg.Pool) -> None:
    user_id, email = await new_staff(db_pool)
    secret = await enrol_in_database(db_pool, user_id)
    admin = await visitor()
    challenge = await password_step(admin, email)
    right = code(secret)
    wrong = "000000" if right != "000000" else "111111"

    answers = [await admin.call("POST", "/api/auth/login/code",
                                {"challenge": challenge, "code": wrong}) for _ in range(5)]
    limited = await admin.call("POST", "/api/auth/login/code",
                               {"challenge": challenge, "code": right})

    assert [a[1]["error"]["code"] for a in answers] == ["invalid_code"] * 5
    assert (limited[0], limited[1]["error"]["code"]) == (429, "rate_limited")
    assert int(admin.headers["Retry-After"]) > 0


@pytest.mark.parametrize(("typed", "status", "error"), [
    ("123\x00456", 400, "bad_request"),  # read_body refuses NUL in any body
    ("9" * 10_000, 422, "invalid_input"),
    ("١٢٣٤٥٦", 401, "invalid_code"),
    ("\uff11\uff12\uff13\uff14\uff15\uff16", 401, "invalid_code"),
    ("", 422, "invalid_input"),
    (123456, 422, "invalid_input"),
    (None, 422, "invalid_input"),
])
async def test_hostile_codes_are_answered_not_crashed(
        visitor: VisitorFactory, db_pool: asyncpg.Pool, typed: object, status: int,
        error: str) -> None:
    user_id, email = await new_staff(db_pool)
    await enrol_in_database(db_pool, user_id)
    admin = await visitor()

    answer = await admin.call("POST", "/api/auth/login/code",
                              {"challenge": await password_step(admin, email),
                               "code": typed})

    assert (answer[0], answer[1]["error"]["code"]) == (status, error)


@pytest.mark.parametrize("challenge", ["x" * 10_000, "a\x00b", "", "ünïcödé"])
async def test_hostile_challenges_are_answered_not_crashed(
        visitor: VisitorFactory, challenge: str) -> None:
    anyone = await visitor()
    status, body = await anyone.call("POST", "/api/auth/login/code",
                                     {"challenge": challenge, "code": "123456"})
    assert (status, body["error"]["code"]) in {
        (401, "invalid_credentials"), (422, "invalid_input"), (400, "bad_request")}


async def test_a_code_typed_with_spaces_is_accepted(visitor: VisitorFactory,
                                                    db_pool: asyncpg.Pool) -> None:
    user_id, email = await new_staff(db_pool)
    secret = await enrol_in_database(db_pool, user_id)
    admin = await visitor()
    typed = code(secret)

    status, _ = await admin.call("POST", "/api/auth/login/code", {
        "challenge": await password_step(admin, email), "code": f" {typed[:3]} {typed[3:]} "})

    assert status == 200


async def test_enrolment_confirms_only_with_a_right_code_and_only_once(
        visitor: VisitorFactory, db_pool: asyncpg.Pool) -> None:
    _, email = await new_staff(db_pool)
    admin = await visitor()
    await admin.log_in(email)
    await admin.call("POST", "/api/auth/mfa/enrolment")

    wrong = await admin.call("POST", "/api/auth/mfa/enrolment/confirm", {"code": "12345x"})
    await enrol(admin)
    again = await admin.call("POST", "/api/auth/mfa/enrolment")

    assert (wrong[0], wrong[1]["error"]["code"]) == (401, "invalid_code")
    assert (again[0], again[1]["error"]["code"]) == (409, "already_exists")


async def test_a_session_opened_before_enrolment_must_prove_a_code(
        visitor: VisitorFactory, db_pool: asyncpg.Pool) -> None:
    _, email = await new_staff(db_pool)
    here, elsewhere = await visitor(), await visitor()
    await here.log_in(email)
    await elsewhere.log_in(email)
    enrolled = await enrol(here)

    refused = await elsewhere.call("GET", "/api/admin/staff")
    verified = await elsewhere.call("POST", "/api/auth/mfa/verify",
                                    {"code": code(enrolled.secret)})
    allowed = await elsewhere.call("GET", "/api/admin/staff")

    assert (refused[0], refused[1]["error"]["code"]) == (403, "mfa_required")
    assert verified[0] == 200
    assert allowed[0] == 200


async def test_a_kiosk_logs_in_with_its_password_alone(
        visitor: VisitorFactory, db_pool: asyncpg.Pool) -> None:
    _, email = await new_staff(db_pool, "kiosk")
    board = await visitor()
    body = await board.log_in(email)
    refused = await board.call("POST", "/api/auth/mfa/enrolment")

    assert body["user"]["kind"] == "kiosk"
    assert refused[0] == 403
