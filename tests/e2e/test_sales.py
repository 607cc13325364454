"""The admin's sales section: live figures from the change feed, and a seat's
history opened from the showtime's map by keyboard."""

from __future__ import annotations

from playwright.async_api import expect

from tests.e2e.browsing import Shop
from tests.e2e.test_admin import log_in_as_admin, scheduled, venue


async def test_the_dashboard_shows_a_hold_made_elsewhere_live_and_the_seat_history_opens(
        shop: Shop) -> None:
    title, _, _, theater_id = await venue(shop.database_url)
    showtime = await scheduled(shop.database_url, theater_id, title)
    server = shop.server()
    page = await log_in_as_admin(shop.browsing, server.url)
    line = page.locator(f'#sales-live tr[data-showtime="{showtime}"]')
    await expect(line).to_contain_text(title)
    held = line.locator("td").nth(1)
    await expect(held).to_contain_text("Gold 0")

    picker = await shop.browsing.picker(server.url, showtime)
    await picker.wait_live()
    await picker.hold("A3")
    await expect(held).to_contain_text("Gold 1")  # no reload

    await line.get_by_role("button", name=f"Seats of {title}, showtime {showtime}").click()
    seat = page.get_by_role("button", name="History of seat A3")
    await seat.focus()
    await page.keyboard.press("Enter")
    history = page.locator("#seat-history")
    await expect(history.get_by_role("heading", name=f"Seat A3, showtime {showtime}")
                 ).to_be_focused()
    await expect(history.get_by_role("listitem")).to_contain_text(["hold by user"])
