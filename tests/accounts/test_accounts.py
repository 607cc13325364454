"""Sign-up, log-in, log-out, me and profile, through the HTTP API of a real server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import pytest
from argon2 import PasswordHasher

from seatserver.accounts.csrf import CSRF_COOKIE
from seatserver.accounts.sessions import SESSION_COOKIE, SessionStore
from tests.accounts.conftest import (
    PASSWORD,
    VisitorFactory,
    link_token,
    message_to,
    messages,
    new_email,
)


async def test_register_answers_the_account_and_logs_in_with_cookies(
        visitor: VisitorFactory) -> None:
    alice = await visitor()
    email = new_email()

    body = await alice.register(email, name="  Alice   Liddell ")

    assert body["user"]["kind"] == "customer"
    assert body["user"]["email"] == email
    assert body["user"]["email_verified"] is False
    assert body["user"]["name"] == "Alice Liddell"
    assert "token" not in body
    session = alice.set_cookies[SESSION_COOKIE]
    assert session["httponly"] is True and session["samesite"] == "Lax"
    csrf = alice.set_cookies[CSRF_COOKIE]
    assert not csrf["httponly"] and csrf["samesite"] == "Lax"
    status, me = await alice.call("GET", "/api/me")
    assert status == 200
    assert (me["id"], me["kind"], me["email"]) == (body["user"]["id"], "customer", email)
    assert me["orders"] == "/api/bookings"


async def test_register_as_an_app_answers_a_bearer_token_and_sets_no_cookie(
        visitor: VisitorFactory) -> None:
    app = await visitor()

    body = await app.register(new_email(), bearer=True)

    assert len(body["token"]) >= 40
    assert SESSION_COOKIE not in app.set_cookies
    app.bearer = body["token"]
    status, me = await app.call("GET", "/api/me")
    assert status == 200 and me["id"] == body["user"]["id"]


async def test_an_email_is_taken_whatever_its_case(visitor: VisitorFactory) -> None:
    email = new_email()
    await (await visitor()).register(email)

    status, body = await (await visitor()).call(
        "POST", "/api/auth/register", {"email": email.upper(), "password": PASSWORD})

    assert (status, body["error"]["code"]) == (409, "email_taken")


@pytest.mark.parametrize(("body", "named"), [
    ({"email": "not-an-address", "password": PASSWORD}, "email"),
    ({"email": "a@example.com", "password": "short"}, "password"),
    ({"email": "a@example.com", "password": "x" * 257}, "password"),
    ({"email": "a@example.com", "password": PASSWORD, "phone": "call me"}, "phone"),
    ({"email": "a@example.com", "password": PASSWORD, "name": "   "}, "name"),
    ({"email": "a@example.com", "password": PASSWORD, "role": "admin"}, "role"),
    ({"email": "a@example.com"}, "password"),
])
async def test_register_refuses_bad_input_naming_the_field(
        visitor: VisitorFactory, body: dict[str, object], named: str) -> None:
    status, answer = await (await visitor()).call("POST", "/api/auth/register", body)

    assert status == 422
    assert answer["error"]["code"] == "invalid_input"
    assert answer["error"]["message"].startswith(named)
    assert PASSWORD not in answer["error"]["message"]


async def test_register_refuses_a_body_that_is_not_json(visitor: VisitorFactory) -> None:
    alice = await visitor()
    async with alice.http.post(alice.base + "/api/auth/register",
                               data={"email": new_email(), "password": PASSWORD}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["message"] == "send the body as application/json"


async def test_log_in_opens_a_new_session_and_ends_the_old_one(
        visitor: VisitorFactory, db_pool: asyncpg.Pool) -> None:
    email = new_email()
    alice = await visitor()
    registered = await alice.register(email)
    before = alice.token
    assert before is not None

    body = await alice.log_in(email)

    assert body["user"]["id"] == registered["user"]["id"]
    after = alice.token
    assert after is not None and after != before
    sessions = SessionStore(db_pool)
    assert await sessions.resolve(before) is None
    assert (await sessions.resolve(after)).user_id == registered["user"]["id"]  # type: ignore[union-attr]


async def test_a_session_fixed_before_log_in_is_worthless_after_it(
        visitor: VisitorFactory, db_pool: asyncpg.Pool) -> None:
    """An attacker who planted a guest session in the victim's browser keeps nothing."""
    email = new_email()
    await (await visitor()).register(email)
    victim = await visitor()
    await victim.guest()
    planted = victim.token
    assert planted is not None

    await victim.log_in(email)

    assert await SessionStore(db_pool).resolve(planted) is None
    assert victim.token != planted


async def test_unknown_user_and_wrong_password_get_the_same_answer_after_the_same_work(
        visitor: VisitorFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    email = new_email()
    await (await visitor()).register(email)
    mallory = await visitor()
    # The work is the argon2id check itself, counted and compared by its cost
    # parameters: a time measured once was at the mercy of a busy machine.
    checked: list[str] = []
    verify = PasswordHasher.verify

    def counted(self: PasswordHasher, stored: str, password: str) -> bool:
        checked.append(stored)
        return verify(self, stored, password)

    monkeypatch.setattr(PasswordHasher, "verify", counted)

    async def attempt(address: str) -> tuple[int, object, list[str]]:
        checked.clear()
        status, body = await mallory.call("POST", "/api/auth/login",
                                          {"email": address, "password": "not the password"})
        return status, body, list(checked)

    wrong = await attempt(email)
    unknown = await attempt(new_email())

    assert wrong[:2] == unknown[:2]
    assert wrong[:2] == (401, {"error": {"code": "invalid_credentials",
                                         "message": "the e-mail address or the password "
                                                    "is wrong"}})
    # One check each, of a hash of the same cost (~0.2 s): without the dummy
    # hash the unknown user would be answered after one index look-up (~1 ms).
    assert len(wrong[2]) == len(unknown[2]) == 1, (wrong[2], unknown[2])
    assert wrong[2][0] != unknown[2][0]

    def cost(stored: str) -> str:
        return stored.rsplit("$", 2)[0]  # $argon2id$v=19$m=…,t=…,p=…

    assert cost(unknown[2][0]) == cost(wrong[2][0]), (unknown[2][0], wrong[2][0])
    assert cost(wrong[2][0]).startswith("$argon2id$")


async def test_log_out_ends_the_session_and_clears_the_cookies(
        visitor: VisitorFactory, db_pool: asyncpg.Pool) -> None:
    alice = await visitor()
    await alice.register(new_email())
    token = alice.token
    assert token is not None

    status, _ = await alice.call("POST", "/api/auth/logout")

    assert status == 204
    assert await SessionStore(db_pool).resolve(token) is None
    assert alice.set_cookies[SESSION_COOKIE].value == ""
    assert alice.set_cookies[CSRF_COOKIE].value == ""
    status, body = await alice.call("GET", "/api/me")
    assert (status, body["error"]["code"]) == (401, "unauthorized")


async def test_me_tells_a_guest_it_is_a_guest(visitor: VisitorFactory) -> None:
    guest = await visitor()
    user_id = await guest.guest()

    status, me = await guest.call("GET", "/api/me")

    assert status == 200
    assert (me["id"], me["kind"], me["email"]) == (user_id, "guest", None)


async def test_profile_update_sets_and_clears_name_and_phone(visitor: VisitorFactory) -> None:
    alice = await visitor()
    await alice.register(new_email(), name="Alice")

    status, me = await alice.call("PATCH", "/api/me", {"phone": "+49 30 1234567"})
    assert status == 200
    assert (me["name"], me["phone"]) == ("Alice", "+49 30 1234567")

    status, me = await alice.call("PATCH", "/api/me", {"name": None, "phone": None})
    assert status == 200
    assert (me["name"], me["phone"]) == (None, None)

    status, body = await alice.call("PATCH", "/api/me", {"phone": "call me maybe"})
    assert (status, body["error"]["code"]) == (422, "invalid_input")


async def test_a_guest_has_no_profile_to_update(visitor: VisitorFactory) -> None:
    guest = await visitor()
    await guest.guest()

    status, body = await guest.call("PATCH", "/api/me", {"name": "Guest"})

    assert (status, body["error"]["code"]) == (403, "forbidden")


async def test_sign_up_sends_a_link_that_confirms_the_address_once(
        visitor: VisitorFactory, outbox_dir: Path) -> None:
    alice = await visitor()
    email = new_email()
    await alice.register(email)

    message = await message_to(outbox_dir, email, "account_verify_email")
    token = link_token(message, "confirm")
    status, body = await (await visitor()).call("POST", "/api/auth/email/confirm",
                                                {"token": token})
    assert status == 200
    assert body == {"email": email, "email_verified": True}
    _, me = await alice.call("GET", "/api/me")
    assert me["email_verified"] is True

    status, body = await alice.call("POST", "/api/auth/email/confirm", {"token": token})
    assert (status, body["error"]["code"]) == (400, "invalid_token")


async def test_an_email_change_takes_effect_only_when_the_new_address_confirms(
        visitor: VisitorFactory, outbox_dir: Path) -> None:
    alice = await visitor()
    old, new = new_email(), new_email()
    await alice.register(old)

    status, me = await alice.call("PATCH", "/api/me",
                                  {"email": new, "current_password": PASSWORD})
    assert status == 200
    assert (me["email"], me["email_pending"]) == (old, new)
    # Until then, the old address is the one that logs in.
    await (await visitor()).log_in(old)
    status, _ = await (await visitor()).call("POST", "/api/auth/login",
                                             {"email": new, "password": PASSWORD})
    assert status == 401

    token = link_token(await message_to(outbox_dir, new, "account_verify_email"), "confirm")
    status, body = await alice.call("POST", "/api/auth/email/confirm", {"token": token})
    assert status == 200 and body == {"email": new, "email_verified": True}
    _, me = await alice.call("GET", "/api/me")
    assert (me["email"], me["email_pending"], me["email_verified"]) == (new, None, True)
    await (await visitor()).log_in(new)


async def test_an_email_change_to_another_accounts_address_answers_like_any_other(
        visitor: VisitorFactory, outbox_dir: Path) -> None:
    taken, free = new_email(), new_email()
    await (await visitor()).register(taken)
    alice, bob = await visitor(), await visitor()
    await alice.register(new_email(), name="Alice")
    await bob.register(new_email(), name="Bob")

    answers = [await who.call("PATCH", "/api/me", {"email": address, "name": "Changed",
                                                   "current_password": PASSWORD})
               for who, address in ((alice, taken.upper()), (bob, free))]
    looks = [await who.call("GET", "/api/me") for who in (alice, bob)]

    def shape(answer: tuple[int, Any], pending: str) -> tuple[Any, ...]:
        status, body = answer
        return (status, sorted(body), body["email_pending"] == pending, body["name"],
                body["email_verified"])

    assert shape(answers[0], taken.upper()) == shape(answers[1], free)
    assert shape(looks[0], taken.upper()) == shape(looks[1], free)
    # The owner hears of it; the address gets no link that could move it.
    notice = await message_to(outbox_dir, taken, "account_email_in_use")
    assert "Someone asked to make" in notice and "/account?confirm=" not in notice
    await message_to(outbox_dir, free, "account_verify_email")
    links_to_taken = [m for m in messages(outbox_dir) if "/account?confirm=" in m
                      and m.split("\n")[0].lower() == f"to: {taken.lower()}"]
    assert len(links_to_taken) == 1  # its own sign-up's, no other


async def test_a_newer_email_change_voids_the_older_link(
        visitor: VisitorFactory, outbox_dir: Path) -> None:
    alice = await visitor()
    await alice.register(new_email())
    first, second = new_email(), new_email()
    await alice.call("PATCH", "/api/me", {"email": first, "current_password": PASSWORD})
    stale = link_token(await message_to(outbox_dir, first, "account_verify_email"), "confirm")
    await alice.call("PATCH", "/api/me", {"email": second, "current_password": PASSWORD})

    status, body = await alice.call("POST", "/api/auth/email/confirm", {"token": stale})

    assert (status, body["error"]["code"]) == (400, "invalid_token")


async def test_the_unconfirmed_address_again_resends_its_link_and_the_confirmed_one_cancels(
        visitor: VisitorFactory, outbox_dir: Path) -> None:
    alice = await visitor()
    email, other = new_email(), new_email()
    await alice.register(email)
    first = link_token(await message_to(outbox_dir, email, "account_verify_email"), "confirm")

    await alice.call("PATCH", "/api/me", {"email": email, "current_password": PASSWORD})
    second = link_token(await message_to(outbox_dir, email, "account_verify_email", nth=2),
                        "confirm")
    assert second != first
    status, _ = await alice.call("POST", "/api/auth/email/confirm", {"token": second})
    assert status == 200

    _, me = await alice.call("PATCH", "/api/me",
                             {"email": other, "current_password": PASSWORD})
    assert me["email_pending"] == other
    status, me = await alice.call("PATCH", "/api/me", {"email": email.upper()})
    assert (status, me["email"], me["email_pending"]) == (200, email, None)
