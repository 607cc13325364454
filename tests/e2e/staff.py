"""Staff in browser tests: admins enrolled in two-factor authentication and
the codes their authenticator app would show.

Each code works once (the server keeps the last accepted step), and a test
process may log the same admin in several times within 30 seconds, so
``codes`` hands out the steps in order, from the current one (never the one
before, which could run out between typing and checking), waiting for the
clock when the window of one step either side is used up.
"""

from __future__ import annotations

import asyncio
import base64
import time

import asyncpg
from playwright.async_api import Page, expect

from seatserver.accounts import totp
from seatserver.accounts.csrf import CSRF_COOKIE, csrf_token
from seatserver.accounts.sessions import SESSION_COOKIE, open_session
from seatserver.db import create_pool
from tests.e2e.browsing import Browsing
from tests.personal_support import user_id_of

# The seeded admin's key in browser tests (ADMIN_EMAIL), as if scanned long ago.
ADMIN_SECRET = bytes(range(1, 21))
_last_step: dict[tuple[str, bytes], int] = {}


async def next_code(secret: bytes, scope: str = "") -> str:
    """The next code the authenticator app would show that the server has not
    seen. ``scope``: where the steps used are kept (a server of its own
    database, by its address), so that tests on fresh databases do not wait
    for the clock because an earlier test used the same key (they did: up
    to 30 s each)."""
    now = totp.step_at(time.time())
    step = max(_last_step.get((scope, secret), 0) + 1, now)
    # The step becomes acceptable once the clock reaches the step before it.
    wait = (step - totp.DRIFT_STEPS) * totp.STEP_S - time.time()
    if wait > 0:
        await asyncio.sleep(wait + 0.05)
    _last_step[(scope, secret)] = step
    return totp.hotp(secret, step)


def secret_of(text: str) -> bytes:
    """A key as the page shows it (base32, no padding), as bytes."""
    return base64.b32decode(text + "=" * (-len(text) % 8))


async def enrol_admin(pool: asyncpg.Pool, email: str, secret: bytes = ADMIN_SECRET) -> None:
    """Enrol the admin ``email`` with ``secret`` unless it is enrolled already
    (its steps used so far stay used)."""
    user_id = await user_id_of(pool, email)
    async with pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO staff_mfa (user_id, secret, confirmed_at) VALUES ($1, $2, now())
               ON CONFLICT (user_id) DO NOTHING""", user_id, secret)


async def log_in_with_code(page: Page, base_url: str, email: str, password: str,
                           secret: bytes = ADMIN_SECRET) -> None:
    """Log in on the account page; its code step on the admin page; the admin page."""
    await page.goto(f"{base_url}/account")
    form = page.locator("#login")
    await form.get_by_label("E-mail").fill(email)
    await form.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Log in: enter your code")).to_be_visible()
    await page.get_by_label("Code from your authenticator app, or a recovery code").fill(
        await next_code(secret, scope=base_url))
    await page.get_by_role("button", name="Confirm code").click()
    await expect(page.locator("#who")).to_have_text(f"Signed in as {email}")


async def open_section(page: Page, name: str) -> None:
    """Follow the admin page's link to the section ``name`` (one shows at a time)."""
    nav = page.get_by_role("navigation", name="Admin sections")
    await nav.get_by_role("link", name=name, exact=True).click()
    await expect(page.get_by_role("heading", name=name, exact=True, level=2)).to_be_visible()


async def signed_in_page(browsing: Browsing, base_url: str, database_url: str, email: str, *,
                         width: int = 1280, timezone_id: str | None = None) -> Page:
    """A new person's admin page, signed in as the enrolled ``email``, as
    ``log_in_with_code`` leaves it, without going through the forms: the
    session a log-in with a code opens (``mfa``: proved just now), made in the
    database, its cookies set as the server sets them, and the page's note that
    it holds a session. For tests of what staff do once logged in; the forms
    cost a second or two of Chromium's CPU per log-in, and the tests that log
    in through them (test_staff_security, test_admin) test them."""
    pool = await create_pool(database_url, 1)
    try:
        user_id = await user_id_of(pool, email)
        assert user_id is not None, f"no account {email}"
        async with pool.acquire() as conn:
            session = await open_session(conn, user_id, mfa=True)
    finally:
        await pool.close()
    page = await browsing.blank(width=width, timezone_id=timezone_id)
    await page.context.add_cookies([
        {"name": SESSION_COOKIE, "value": session.token, "url": base_url, "httpOnly": True,
         "sameSite": "Lax"},
        {"name": CSRF_COOKIE, "value": csrf_token(session.token), "url": base_url,
         "sameSite": "Lax"}])
    await page.goto(f"{base_url}/admin")
    await expect(page.locator("#who")).to_have_text(f"Signed in as {email}")
    # What rememberSession (web/shared/api.js) notes after a log-in: pages
    # opened later in this context keep the session rather than make a guest's.
    await page.evaluate("() => localStorage.setItem('seatserver.session', String(Date.now()))")
    return page
