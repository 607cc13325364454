"""CSRF: cookie-authenticated changes need the token (and a same-site Origin);
Bearer clients do not."""

from __future__ import annotations

import pytest

from seatserver.accounts.csrf import CSRF_COOKIE, CSRF_HEADER, csrf_token
from tests.accounts.conftest import VisitorFactory, new_email


async def test_a_cookie_change_without_the_token_is_refused(visitor: VisitorFactory) -> None:
    alice = await visitor()
    await alice.register(new_email(), name="Alice")

    status, body = await alice.call("PATCH", "/api/me", {"name": "Mallory"}, csrf=False)

    assert (status, body["error"]["code"]) == (403, "csrf_failed")
    _, me = await alice.call("GET", "/api/me")
    assert me["name"] == "Alice"


async def test_a_cookie_change_with_another_sessions_token_is_refused(
        visitor: VisitorFactory) -> None:
    alice, mallory = await visitor(), await visitor()
    await alice.register(new_email(), name="Alice")
    await mallory.guest()

    status, body = await alice.call(
        "PATCH", "/api/me", {"name": "Mallory"}, csrf=False,
        headers={CSRF_HEADER: mallory.cookie(CSRF_COOKIE) or ""})

    assert (status, body["error"]["code"]) == (403, "csrf_failed")


async def test_a_cookie_change_with_the_token_is_accepted(visitor: VisitorFactory) -> None:
    alice = await visitor()
    await alice.register(new_email())
    token = alice.token
    assert token is not None
    assert alice.cookie(CSRF_COOKIE) == csrf_token(token)

    status, me = await alice.call("PATCH", "/api/me", {"name": "Alice"})

    assert (status, me["name"]) == (200, "Alice")


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/api/auth/logout", None),
    ("POST", "/api/auth/login", {"email": "x@example.com", "password": "whatever1"}),
    ("POST", "/api/showtimes/1/bookings", {}),
    ("POST", "/api/bookings/ABCDEFGHJK/cancel", None),
])
async def test_every_cookie_change_needs_the_token(
        visitor: VisitorFactory, method: str, path: str, body: object) -> None:
    guest = await visitor()
    await guest.guest()

    status, answer = await guest.call(method, path, body, csrf=False,
                                      headers={"Idempotency-Key": "k1"})

    assert (status, answer["error"]["code"]) == (403, "csrf_failed")


async def test_bearer_clients_need_no_token(visitor: VisitorFactory) -> None:
    app = await visitor()
    app.bearer = (await app.register(new_email(), bearer=True))["token"]

    status, me = await app.call("PATCH", "/api/me", {"name": "App"}, csrf=False)

    assert (status, me["name"]) == (200, "App")


async def test_a_change_from_another_site_is_refused_even_without_a_session(
        visitor: VisitorFactory) -> None:
    """A forged log-in (into the attacker's account) has no session to check, but
    its browser names the attacker's site."""
    email = new_email()
    await (await visitor()).register(email)
    victim = await visitor()

    status, body = await victim.call(
        "POST", "/api/auth/login", {"email": email, "password": "correct horse battery"},
        headers={"Origin": "https://evil.example"})
    assert (status, body["error"]["code"]) == (403, "csrf_failed")

    host = victim.base.split("://", 1)[1]
    status, _ = await victim.call(
        "POST", "/api/auth/login", {"email": email, "password": "correct horse battery"},
        headers={"Origin": f"http://{host}"})
    assert status == 200


async def test_a_session_without_its_csrf_cookie_gets_it_back_from_any_answer(
        visitor: VisitorFactory) -> None:
    """Sessions made before CSRF cookies existed keep working: one GET gives it."""
    alice = await visitor()
    await alice.register(new_email())
    token = alice.token
    assert token is not None
    alice.http.cookie_jar.clear(lambda morsel: morsel.key == CSRF_COOKIE)

    status, _ = await alice.call("GET", "/api/me")

    assert status == 200
    assert alice.set_cookies[CSRF_COOKIE].value == csrf_token(token)
    status, _ = await alice.call("PATCH", "/api/me", {"name": "Alice"})
    assert status == 200
