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
