"""Reviews in Chromium, on the film's page: someone who saw the movie gets
there from the page of their showtime that is over, writes a review, edits
it, and the rating follows; a visitor reads them and is told who may write."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

from playwright.async_api import expect

from seatserver.db import create_pool
from tests.e2e.browsing import Shop
from tests.personal_support import user_id_of

PASSWORD = "correct horse battery"


async def saw_the_movie(database_url: str, email: str, showtime: int) -> int:
    """A paid booking of ``email``'s for a show of ``showtime``'s movie that is over."""
    pool = await create_pool(database_url, 1)
    try:
        user_id = await user_id_of(pool, email)
        async with pool.acquire() as conn, conn.transaction():
            past = await conn.fetchval(
                "INSERT INTO showtimes (movie_id, screen_id, starts_at, currency) "
                "SELECT movie_id, screen_id, $2, currency FROM showtimes WHERE id = $1 "
                "RETURNING id", showtime,
                datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=3))
            await conn.execute(
                "INSERT INTO bookings (reference, user_id, showtime_id, status, amount, "
                "currency, hold_deadline) SELECT $1, id, $2, 'booked', 900, 'EUR', now() "
                "FROM users WHERE id = $3", secrets.token_hex(5).upper(), past, user_id)
            return int(past)
    finally:
        await pool.close()


async def test_a_viewer_writes_and_edits_a_review_on_the_films_page(shop: Shop) -> None:
    server = shop.server()
    email = f"viewer-{secrets.token_hex(5)}@example.com"
    page = await shop.browsing.page(f"{server.url}/account")
    await page.locator("#register-email").fill(email)
    await page.locator("#register-password").fill(PASSWORD)
    await page.locator("#register-name").fill("Ada")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.locator("#who")).to_contain_text(email)
    past = await saw_the_movie(shop.database_url, email, shop.showtime)

    # The seat map of a showtime that is over says so, and leads to the film.
    await page.goto(f"{server.url}/showtimes/{past}")
    await expect(page.get_by_role("heading", level=1)).to_have_text("This showtime is over")
    await page.get_by_role("link", name="Northern Lights: reviews and showtimes").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Northern Lights")
    await expect(page.get_by_role("link", name=re.compile(r"20:00"))).to_have_count(2)

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


async def test_a_visitor_reads_the_reviews_and_is_told_who_may_write_one(shop: Shop) -> None:
    server = shop.server()
    page = await shop.browsing.page(f"{server.url}/", width=390, height=844, phone=True)
    await page.get_by_role("link", name="Northern Lights").first.click()

    reviews = page.get_by_role("region", name="Reviews")
    await expect(reviews.locator("#review-rating")).to_have_text("No reviews yet.")
    await expect(reviews.get_by_role("link", name="Log in to write a review")).to_have_attribute(
        "href", re.compile(r"^/account\?next=%2Ffilms%2F\d+$"))
    await expect(reviews.get_by_role("button", name="Publish your review")).to_be_hidden()
    film = page.url
    # The log-in page's way back says where it leads: the film, not "your seats".
    await reviews.get_by_role("link", name="Log in to write a review").click()
    await page.get_by_role("link", name="Back to the film").click()
    await expect(page).to_have_url(film)


async def test_the_picker_has_no_reviews_block_any_more(shop: Shop) -> None:
    server = shop.server()
    page = await shop.browsing.page(f"{server.url}/showtimes/{shop.showtime}")

    await expect(page.get_by_role("heading", level=1)).to_have_text("Northern Lights")
    await expect(page.get_by_role("region", name="Reviews")).to_have_count(0)
