"""The home page in Chromium (issue 17, point 11): showtimes by date and film,
each with its screen, language, runtime, rating and free seats per type, and
filters by date and film that work on a phone and a laptop."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from seatserver.db import create_pool
from tests.e2e.browsing import Shop, someone_else

PHONE = {"width": 390, "height": 844, "phone": True}
LAPTOP = {"width": 1366, "height": 768}


async def second_film(database_url: str, beside: int) -> int:
    """"Quiet Harbour" (German, 95 min) at 16:00 on the day of showtime ``beside``."""
    pool = await create_pool(database_url, 1)
    try:
        async with pool.acquire() as conn, conn.transaction():
            movie = await conn.fetchval(
                "INSERT INTO movies (slug, title, synopsis, runtime_min, certificate, "
                "languages) VALUES ('quiet-harbour', 'Quiet Harbour', 'Boats.', 95, '12', "
                "'{de}') RETURNING id")
            return int(await conn.fetchval(
                "INSERT INTO showtimes (movie_id, screen_id, starts_at, currency) "
                "SELECT $1, screen_id, starts_at - interval '4 hours', currency "
                "FROM showtimes WHERE id = $2 RETURNING id", movie, beside))
    finally:
        await pool.close()


async def day_names(page: Page) -> list[str]:
    return await page.get_by_role("heading", level=2).all_inner_texts()


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["phone", "laptop"])
async def test_the_home_page_lists_by_date_and_film_and_filters_by_both(
        shop: Shop, viewport: dict[str, int | bool]) -> None:
    server = shop.server()
    today, tomorrow = shop.showtime - 1, shop.showtime
    await second_film(shop.database_url, tomorrow)
    async with someone_else(server.url, today) as other:
        assert (await other.hold(today, ["E1", "E2"]))["ok"]  # two gold seats
        page = await shop.browsing.page(server.url + "/", **viewport)  # type: ignore[arg-type]

        await expect(page.get_by_role("heading", level=2)).to_have_count(2)
        days = await day_names(page)
        first = page.get_by_role("region", name=days[0])
        second = page.get_by_role("region", name=days[1])
        # Each film once a day, under its own heading, with what it is.
        await expect(first.get_by_role("heading", level=3)).to_have_text(["Northern Lights"])
        await expect(second.get_by_role("heading", level=3)).to_have_text(
            ["Quiet Harbour", "Northern Lights"])
        harbour = second.get_by_role("article").filter(has_text="Quiet Harbour")
        await expect(harbour).to_contain_text("95 min · rated 12 · German · no reviews yet")
        # Each showtime a link of its own, its screen and free seats per type.
        show = page.get_by_role("link", name=f"20:00 Northern Lights, {days[0]}")
        await expect(show).to_have_attribute("href", f"/showtimes/{today}")
        item = first.get_by_role("listitem").filter(has=show)
        await expect(item).to_contain_text(re.compile(r"Saal \d"))
        # 108 gold seats (rows E-J), two of them held.
        await expect(item).to_contain_text(re.compile(r"Silver \d+ · Gold 106 · VIP \d+ free"))

    await page.get_by_label("Film").select_option(label="Quiet Harbour")
    assert await day_names(page) == [days[1]]
    await expect(page.get_by_role("link", name=re.compile(r"^\d\d:\d\d "))).to_have_count(1)
    await expect(page.get_by_role("status")).to_have_text("1 showtime shown.")

    await page.get_by_label("Film").select_option(label="All films")
    await page.get_by_label("Date").select_option(label=days[0])
    assert await day_names(page) == [days[0]]
    assert re.search(r"\?date=\d{4}-\d\d-\d\d$", page.url)

    await page.reload()  # the filters live in the address
    await expect(page.get_by_label("Date")).to_have_value(page.url.rsplit("=", 1)[1])
    assert await day_names(page) == [days[0]]
    await page.get_by_role("button", name="Show all").click()
    assert len(await day_names(page)) == 2


async def test_a_filter_address_that_names_nothing_shows_everything(shop: Shop) -> None:
    server = shop.server()
    page = await shop.browsing.page(
        f"{server.url}/?date=2026-02-31&film=99999999999999999999999&film=%D9%A1")

    await expect(page.get_by_role("heading", level=2)).to_have_count(2)
    await expect(page.get_by_label("Film")).to_have_value("")
    await expect(page.get_by_label("Date")).to_have_value("")

    await page.goto(f"{server.url}/?date=%00")  # refused before any page: the 400 page
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "This address cannot be read")
    await page.get_by_role("link", name="All showtimes").click()
    await expect(page.get_by_role("heading", level=2)).to_have_count(2)
