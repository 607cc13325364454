"""Staff security in Chromium: an admin enrols in two-factor authentication
(reading the key off the page, computing the code as an app would), logs out
and in with a code, uses a recovery code once, and changes a staff member's
role after confirming with a fresh code."""

from __future__ import annotations

import secrets
from datetime import timedelta

import asyncpg
from playwright.async_api import Page, expect

from seatserver.accounts.passwords import Passwords
from seatserver.accounts.store import AccountStore
from seatserver.db import create_pool
from seatserver.personal.setup import stored_keys
from tests.e2e.browsing import Shop
from tests.e2e.staff import enrol_admin, log_in_with_code, next_code, open_section, secret_of
from tests.e2e.test_accessibility import serious_findings
from tests.personal_support import user_id_of

PASSWORD = "staff password for the test"


async def staff(database_url: str, kind: str = "admin") -> str:
    """A new staff account with ``PASSWORD``: its e-mail."""
    email = f"staff-{secrets.token_hex(4)}@example.com"
    pool = await create_pool(database_url, 2)
    try:
        store = AccountStore(pool, await stored_keys(pool), email_ttl=timedelta(days=1),
                         reset_ttl=timedelta(hours=1))
        await store.ensure_staff(email, kind, await Passwords(concurrency=1).hash(PASSWORD))
    finally:
        await pool.close()
    return email


async def password_step(page: Page, base_url: str, email: str) -> None:
    await page.goto(f"{base_url}/account")
    form = page.locator("#login")
    await form.get_by_label("E-mail").fill(email)
    await form.get_by_label("Password").fill(PASSWORD)
    await form.get_by_role("button", name="Log in").click()


async def log_out(page: Page, base_url: str) -> None:
    await page.goto(f"{base_url}/account")
    await page.get_by_role("button", name="Log out").click()
    await expect(page.locator("#login")).to_be_visible()


async def code_step(page: Page, code: str) -> None:
    await expect(page.get_by_role("heading", name="Log in: enter your code")).to_be_visible()
    await page.get_by_label("Code from your authenticator app, or a recovery code").fill(code)
    await page.get_by_role("button", name="Confirm code").click()


async def test_an_admin_enrols_then_logs_in_with_a_code_and_a_recovery_code_once(
        shop: Shop) -> None:
    email = await staff(shop.database_url)
    server = shop.server()
    page = await shop.browsing.page(f"{server.url}/account")

    # Not enrolled: the password alone, then the admin page asks to enrol.
    await password_step(page, server.url, email)
    await expect(page.locator("#who")).to_have_text(f"Logged in as {email} (admin)")
    await page.goto(f"{server.url}/admin")
    await expect(page.get_by_role("heading", name="Set up two-factor authentication")
                 ).to_be_visible()
    await expect(page.get_by_role("img", name="QR code of the key for your authenticator app")
                 ).to_be_visible()
    assert await page.get_by_role("heading", name="Movies", exact=True).is_hidden()
    assert await serious_findings(page) == []
    secret = secret_of((await page.locator("#mfa-secret").inner_text()).strip())
    await page.get_by_label("Code from your authenticator app").fill("000000x")
    await page.get_by_role("button", name="Confirm code").click()
    await expect(page.get_by_role("alert")).to_contain_text("wrong")
    await page.get_by_label("Code from your authenticator app").fill(
        await next_code(secret, scope=server.url))
    await page.get_by_role("button", name="Confirm code").click()
    codes = page.locator("#recovery-codes li")
    await expect(codes).to_have_count(10)
    recovery = (await codes.nth(0).inner_text()).strip()
    assert await serious_findings(page) == []
    await page.get_by_role("button", name="Continue to the admin page").click()
    await expect(page.get_by_role("navigation", name="Admin sections")).to_be_visible()

    # Log out and in: the password, then a code.
    await log_out(page, server.url)
    await log_in_with_code(page, server.url, email, PASSWORD, secret)
    await expect(page.get_by_role("navigation", name="Admin sections")).to_be_visible()

    # A recovery code works once.
    await log_out(page, server.url)
    await password_step(page, server.url, email)
    await code_step(page, recovery)
    await expect(page.locator("#who")).to_have_text(f"Signed in as {email}")
    await log_out(page, server.url)
    await password_step(page, server.url, email)
    await code_step(page, recovery)
    await expect(page.get_by_role("alert")).to_contain_text("used already")
    assert await page.get_by_role("navigation", name="Admin sections").is_hidden()


async def test_a_role_change_asks_for_a_fresh_code_first(shop: Shop) -> None:
    email = await staff(shop.database_url)
    board = await staff(shop.database_url, "kiosk")
    pool = await create_pool(shop.database_url, 2)
    try:
        secret = await _enrolled(pool, email)
        server = shop.server()
        page = await shop.browsing.page(f"{server.url}/account")
        await log_in_with_code(page, server.url, email, PASSWORD, secret)
        # The log-in's code was proved six minutes ago, as far as the server knows.
        user_id = await user_id_of(pool, email)
        async with pool.acquire() as conn:
            await conn.execute(
                "UPDATE sessions SET mfa_at = now() - interval '6 minutes' WHERE user_id = $1",
                user_id)
    finally:
        await pool.close()

    await open_section(page, "Staff")
    row = page.locator("#staff-list li").filter(has_text=board)
    await row.get_by_role("button", name="Make admin").click()
    dialog = page.get_by_role("dialog", name="Confirm it is you")
    await expect(dialog).to_be_visible()
    assert await serious_findings(page) == []
    await dialog.get_by_label("Code").fill(await next_code(secret, scope=server.url))
    await dialog.get_by_role("button", name="Confirm").click()

    await expect(dialog).to_be_hidden()
    await expect(page.locator("#staff-form")).to_contain_text(f"{board} is an admin now.")
    await expect(page.locator("#staff-list li").filter(has_text=board)).to_contain_text(
        "admin · two-factor not set up")
    # Their own row offers no change the server would refuse (taking away their
    # own admin role, disabling themselves: tests/accounts/test_staff.py), and says why.
    own = page.locator("#staff-list li").filter(has_text=email)
    await expect(own).to_contain_text("you: another admin changes your role")
    for name in ("Make kiosk board", "Make box office", "Disable"):
        await expect(own.get_by_role("button", name=name)).to_have_count(0)
    await expect(own.get_by_role("button", name="Reset two-factor")).to_be_visible()
    other = page.locator("#staff-list li").filter(has_text=board)
    await expect(other.get_by_role("button", name="Disable")).to_be_visible()


async def _enrolled(pool: asyncpg.Pool, email: str) -> bytes:
    secret = secrets.token_bytes(20)
    await enrol_admin(pool, email, secret)
    return secret
