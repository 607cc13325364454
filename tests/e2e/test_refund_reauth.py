"""A refund above SEATSERVER_REFUND_REAUTH_ABOVE from the admin's Bookings
section, in Chromium: on a session whose code is older than five minutes it
asks for a fresh code first (and cancelling that refunds nothing); a refund
at or under the limit does not ask."""

from __future__ import annotations

from playwright.async_api import Page, expect

from seatserver.accounts.seed import ADMIN_EMAIL
from seatserver.db import create_pool
from tests.e2e.browsing import Shop
from tests.e2e.staff import ADMIN_SECRET, next_code, open_section
from tests.e2e.test_accessibility import serious_findings
from tests.e2e.test_admin import admin_page, scheduled, venue
from tests.e2e.test_sales import paid_elsewhere
from tests.personal_support import user_id_of


async def cancel(page: Page, reference: str, refund: str) -> None:
    """Find the booking by its reference and send its cancel form."""
    search = page.locator("#booking-search")
    await search.get_by_label("Reference").fill(reference)
    await search.get_by_role("button", name="Find bookings").click()
    found = page.locator("#booking-list li").filter(has_text=reference)
    await found.get_by_label("Reason").fill("the projector broke")
    await found.get_by_label("Refund in EUR").fill(refund)
    await found.get_by_role("button", name="Cancel booking").click()


async def test_a_refund_above_the_limit_asks_for_a_fresh_code_one_under_it_does_not(
        shop: Shop) -> None:
    title, _, _, theater_id = await venue(shop.database_url)
    showtime = await scheduled(shop.database_url, theater_id, title)
    server = shop.server(SEATSERVER_REFUND_REAUTH_ABOVE="500")
    small = await paid_elsewhere(server.url, showtime, ["A3"])
    large = await paid_elsewhere(server.url, showtime, ["A4"])
    page = await admin_page(shop, server.url)
    pool = await create_pool(shop.database_url, 1)
    try:  # the log-in's code was proved six minutes ago, as far as the server knows
        await pool.execute(
            "UPDATE sessions SET mfa_at = now() - interval '6 minutes' WHERE user_id = $1",
            await user_id_of(pool, ADMIN_EMAIL))
    finally:
        await pool.close()
    await open_section(page, "Bookings")
    done = page.locator("#booking-search .form-done")
    dialog = page.get_by_role("dialog", name="Confirm it is you")

    await cancel(page, small["reference"], "5.00")  # 500 cents: at the limit
    await expect(done).to_have_text(f"Booking {small['reference']} cancelled.")
    assert await dialog.is_hidden()

    await cancel(page, large["reference"], "9.00")
    await expect(dialog).to_be_visible()
    assert await serious_findings(page) == []
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_be_hidden()
    row = page.locator("#booking-list li").filter(has_text=large["reference"])
    await expect(row.locator(".form-error")).to_contain_text("code")
    await expect(row).to_contain_text("booked")  # nothing refunded

    await row.get_by_role("button", name="Cancel booking").click()
    await expect(dialog).to_be_visible()
    await dialog.get_by_label("Code").fill(await next_code(ADMIN_SECRET, scope=server.url))
    await dialog.get_by_role("button", name="Confirm").click()
    await expect(dialog).to_be_hidden()
    await expect(done).to_have_text(f"Booking {large['reference']} cancelled.")
    await expect(page.locator("#booking-list li").filter(has_text=large["reference"])
                 ).to_contain_text("cancelled")
