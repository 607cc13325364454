"""Reviews in Chromium: someone who saw the movie writes a review under the
seat map of its next showtime, edits it, and the rating follows."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from playwright.async_api import expect

from seatserver.db import create_pool
from tests.e2e.browsing import Shop

PASSWORD = "correct horse battery"


async def saw_the_movie(database_url: str, email: str, showtime: int) -> None:
    """A paid booking of ``email``'s for a show of ``showtime``'s movie that is over."""
    pool = await create_pool(database_url, 1)
    try:
        async with pool.acquire() as conn, conn.transaction():
            past = await conn.fetchval(
                "INSERT INTO showtimes (movie_id, screen_id, starts_at, currency) "
                "SELECT movie_id, screen_id, $2, currency FROM showtimes WHERE id = $1 "
                "RETURNING id", showtime,
                datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=3))
            await conn.execute(
                "INSERT INTO bookings (reference, user_id, showtime_id, status, amount, "
                "currency, hold_deadline) SELECT $1, id, $2, 'booked', 900, 'EUR', now() "
                "FROM users WHERE email = $3", secrets.token_hex(5).upper(), past, email)
    finally:
        await pool.close()


async def test_a_viewer_writes_and_edits_a_review_under_the_seat_map(shop: Shop) -> None:
    server = shop.server()
    email = f"viewer-{secrets.token_hex(5)}@example.com"
    page = await shop.browsing.page(f"{server.url}/account")
    await page.locator("#register-email").fill(email)
    await page.locator("#register-password").fill(PASSWORD)
    await page.locator("#register-name").fill("Ada")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.locator("#who")).to_contain_text(email)
    await saw_the_movie(shop.database_url, email, shop.showtime)

    await page.goto(f"{server.url}/showtimes/{shop.showtime}")
    reviews = page.get_by_role("region", name="Reviews")
    await expect(reviews.locator("#review-rating")).to_have_text("No reviews yet.")
    await reviews.get_by_label("Stars").select_option("4")
    await reviews.get_by_label("Your review").fill("Gripping from start to end.")
    await reviews.get_by_role("button", name="Publish your review").click()

    await expect(reviews.get_by_role("status")).to_have_text("Thank you: your review is published.")
    await expect(reviews.locator("#review-rating")).to_have_text("Rated 4.0 of 5 from 1 review.")
    await expect(reviews.locator(".review")).to_contain_text("Gripping from start to end.")

    await reviews.get_by_label("Stars").select_option("2")
    await reviews.get_by_role("button", name="Save your review").click()

    await expect(reviews.locator("#review-rating")).to_have_text("Rated 2.0 of 5 from 1 review.")
    await expect(reviews.locator(".review")).to_contain_text("Ada")
