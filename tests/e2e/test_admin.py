"""The admin page in Chromium: an admin logs in, schedules a showtime on the
admin page, and it is on sale in the public listing and on the kiosk board;
a price changed for one showtime is what its picker shows."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

import aiohttp
from playwright.async_api import Page, expect

from seatserver.accounts.seed import ADMIN_EMAIL, seed_staff
from seatserver.catalog.admin import CatalogAdminStore
from seatserver.catalog.inputs import (
    MovieInput,
    PriceRuleInput,
    ScreenInput,
    ShowtimeInput,
    TheaterInput,
)
from seatserver.catalog.store import CatalogStore
from seatserver.db import create_pool
from seatserver.personal.setup import stored_keys
from tests.catalog.conftest import SMALL_LAYOUT
from tests.e2e.browsing import Browsing, Shop
from tests.e2e.staff import enrol_admin, log_in_with_code, open_section, signed_in_page
from tests.e2e.test_accessibility import serious_findings

PASSWORD = "admin password for the test"


async def venue(database_url: str) -> tuple[str, str, str, int]:
    """The admin account, and a theater of its own with a screen, prices and a
    movie: (movie title, screen label as the page lists it, theater name, theater id)."""
    pool = await create_pool(database_url, 2)
    try:
        await seed_staff(pool, await stored_keys(pool), admin_password=PASSWORD,
                         kiosk_password=None)
        await enrol_admin(pool, ADMIN_EMAIL)
        admin = CatalogAdminStore(pool, CatalogStore(pool))
        tag = secrets.token_hex(3)
        theater = await admin.create_theater(TheaterInput(
            slug=f"kino-{tag}", name=f"Kino {tag}", city="Berlin", time_zone="Europe/Berlin"))
        await admin.create_screen(ScreenInput(theater_id=theater.id, name="Blue",
                                              layout=SMALL_LAYOUT))
        for seat_type in ("silver", "gold", "vip"):
            for day_kind in ("weekday", "weekend"):
                await admin.set_price_rule(PriceRuleInput(
                    theater_id=theater.id, seat_type=seat_type, day_kind=day_kind,
                    amount=900, currency="EUR"))
        movie = await admin.create_movie(MovieInput(
            slug=f"film-{tag}", title=f"Admin's film {tag}", runtime_min=95))
    finally:
        await pool.close()
    return movie.title, f"{theater.name} · Blue", theater.name, theater.id


async def scheduled(database_url: str, theater_id: int, title: str) -> int:
    """A showtime of the movie ``title`` in the theater's screen, in three days."""
    pool = await create_pool(database_url, 2)
    try:
        async with pool.acquire() as conn:
            screen_id = await conn.fetchval("SELECT id FROM screens WHERE theater_id = $1",
                                            theater_id)
            movie_id = await conn.fetchval("SELECT id FROM movies WHERE title = $1", title)
        starts = (datetime.now(UTC) + timedelta(days=3)).replace(second=0, microsecond=0)
        showtime = await CatalogAdminStore(pool, CatalogStore(pool)).create_showtime(
            ShowtimeInput(movie_id=movie_id, screen_id=screen_id, starts_at=starts))
    finally:
        await pool.close()
    return showtime.id


async def log_in_as_admin(browsing: Browsing, base_url: str, *, width: int = 1280,
                          timezone_id: str | None = None) -> Page:
    page = await browsing.page(f"{base_url}/account", width=width, timezone_id=timezone_id)
    await log_in_with_code(page, base_url, ADMIN_EMAIL, PASSWORD)
    return page


async def admin_page(shop: Shop, base_url: str, *, width: int = 1280,
                     timezone_id: str | None = None) -> Page:
    """The page ``log_in_as_admin`` ends on, without its forms
    (``signed_in_page``): for tests of what the admin does once logged in."""
    return await signed_in_page(shop.browsing, base_url, shop.database_url, ADMIN_EMAIL,
                                width=width, timezone_id=timezone_id)


async def test_an_admin_creates_a_showtime_that_appears_in_the_listing_and_on_the_kiosk(
        shop: Shop) -> None:
    title, screen, _, theater_id = await venue(shop.database_url)
    server = shop.server()
    page = await log_in_as_admin(shop.browsing, server.url)
    await open_section(page, "Showtimes")

    form = page.locator("#showtime-form")
    await form.get_by_label("Movie").select_option(label=title)
    await form.get_by_label("Screen").select_option(label=screen)
    starts = (datetime.now() + timedelta(days=2)).replace(hour=19, minute=30)
    await form.get_by_label("Starts at").fill(starts.strftime("%Y-%m-%dT%H:%M"))
    await form.get_by_role("button", name="Save showtime").click()
    done = form.locator(".form-done")
    await expect(done).to_contain_text("created")
    showtime_id = int((await done.inner_text()).split()[1])

    async with aiohttp.ClientSession() as http, http.get(
            f"{server.url}/api/showtimes") as resp:
        listed = {s["id"]: s for s in await resp.json()}
    assert listed[showtime_id]["movie"]["title"] == title

    kiosk = await shop.browsing.kiosk(server.url, f"?theater={theater_id}")
    await expect(kiosk.locator(f'.show[data-showtime="{showtime_id}"]')).to_contain_text(title)


async def test_the_showtime_pager_shows_only_a_way_that_leads_to_another_page(
        shop: Shop) -> None:
    """One page: no pager at all. 21 showtimes (20 a page): "Next page" on the
    first, "Previous page" on the second, the focus kept on the one left."""
    title, _, theater, theater_id = await venue(shop.database_url)
    await scheduled(shop.database_url, theater_id, title)
    server = shop.server()
    page = await admin_page(shop, server.url)
    await open_section(page, "Showtimes")
    section = page.get_by_role("region", name="Showtimes")
    filter_form = section.locator("#showtime-filter")
    rows = section.locator("#showtime-list > li")
    previous = section.get_by_role("button", name="Previous page")
    next_page = section.get_by_role("button", name="Next page")

    async def show_theaters() -> None:
        await filter_form.get_by_label("Theater", exact=True).select_option(
            label=f"{theater}, Berlin")
        await filter_form.get_by_role("button", name="Show showtimes").click()

    await show_theaters()
    await expect(rows).to_have_count(1)
    await expect(previous).to_have_count(0)
    await expect(next_page).to_have_count(0)
    await expect(section.get_by_text("Page 1")).to_be_hidden()

    pool = await create_pool(shop.database_url, 2)
    try:
        async with pool.acquire() as conn:
            screen_id = await conn.fetchval("SELECT id FROM screens WHERE theater_id = $1",
                                            theater_id)
            movie_id = await conn.fetchval("SELECT id FROM movies WHERE title = $1", title)
        admin = CatalogAdminStore(pool, CatalogStore(pool))
        first = (datetime.now(UTC) + timedelta(days=5)).replace(second=0, microsecond=0)
        for i in range(20):
            await admin.create_showtime(ShowtimeInput(
                movie_id=movie_id, screen_id=screen_id, starts_at=first + timedelta(hours=3 * i)))
    finally:
        await pool.close()
    await show_theaters()
    await expect(rows).to_have_count(20)
    await expect(previous).to_have_count(0)
    await expect(section.get_by_text("Page 1", exact=True)).to_be_visible()
    await next_page.click()
    await expect(rows).to_have_count(1)
    await expect(section.get_by_text("Page 2", exact=True)).to_be_visible()
    await expect(next_page).to_have_count(0)
    await expect(previous).to_be_focused()
    await previous.click()
    await expect(rows).to_have_count(20)
    await expect(previous).to_have_count(0)
    await expect(next_page).to_be_focused()
    assert await serious_findings(page) == []


async def test_an_overlapping_showtime_is_refused_with_the_show_in_the_way(shop: Shop) -> None:
    title, screen, _, _ = await venue(shop.database_url)
    server = shop.server()
    page = await admin_page(shop, server.url)
    await open_section(page, "Showtimes")
    form = page.locator("#showtime-form")
    starts = (datetime.now() + timedelta(days=3)).replace(hour=18, minute=0)
    for outcome in (".form-done", ".form-error"):
        await form.get_by_label("Movie").select_option(label=title)
        await form.get_by_label("Screen").select_option(label=screen)
        await form.get_by_label("Starts at").fill(starts.strftime("%Y-%m-%dT%H:%M"))
        await form.get_by_role("button", name="Save showtime").click()
        await expect(form.locator(outcome)).to_be_visible()
    await expect(form.locator(".form-error")).to_contain_text("the screen is busy")
    await expect(form.locator(".form-done")).to_be_hidden()


async def test_admin_pages_have_no_serious_accessibility_findings(shop: Shop) -> None:
    await venue(shop.database_url)
    server = shop.server()
    gate = await shop.browsing.page(f"{server.url}/admin")
    await expect(gate.locator("#gate")).to_be_visible()
    assert await serious_findings(gate) == []

    page = await admin_page(shop, server.url)
    await open_section(page, "Screens")
    await page.get_by_role("button", name="Edit screen Blue").click()
    await expect(page.locator("#layout-preview .seat").first).to_be_visible()
    await expect(page.get_by_role("gridcell", name="A1, silver, wheelchair space")).to_be_visible()
    await page.get_by_text("Advanced: the layout as JSON").click()
    assert await serious_findings(page) == []
    await open_section(page, "Movies")
    await page.locator("#movie-form").get_by_role("button", name="Save movie").click()
    await expect(page.locator('#movie-form .field-error[data-for="slug"]')).to_be_visible()
    assert await serious_findings(page) == []


async def test_editing_a_screen_previews_its_layout_and_a_bad_layout_is_named_by_the_field(
        shop: Shop) -> None:
    await venue(shop.database_url)
    server = shop.server()
    page = await admin_page(shop, server.url)
    await open_section(page, "Screens")
    await page.get_by_role("button", name="Edit screen Blue").click()
    form = page.locator("#screen-form")
    await expect(form.get_by_label("Name")).to_have_value("Blue")
    preview = page.locator("#layout-preview")
    await expect(preview.locator(".seats")).to_have_count(1)
    await expect(preview.locator(".seat")).to_have_count(6)
    await expect(preview).to_have_attribute("aria-label",
                                             "Seat layout preview: 2 rows, 6 seats")

    await page.get_by_text("Advanced: the layout as JSON").click()
    duplicate = ('{"rows": [{"row": "A", "seats": [{"number": 1, "type": "silver"}, '
                 '{"number": 1, "type": "silver"}]}]}')
    await form.get_by_label("Seat layout (JSON)").fill(duplicate)
    await expect(preview.locator(".seat")).to_have_count(2)
    await form.get_by_role("button", name="Save screen").click()
    error = form.locator('.field-error[data-for="layout"]')
    await expect(error).to_contain_text("row A seat 1: the number is used twice in the row")
    await expect(form.get_by_label("Seat layout (JSON)")).to_have_attribute(
        "aria-invalid", "true")


async def test_an_admins_price_for_one_showtime_is_the_price_its_picker_shows(
        shop: Shop) -> None:
    title, _, theater, theater_id = await venue(shop.database_url)
    showtime_id = await scheduled(shop.database_url, theater_id, title)
    server = shop.server()
    page = await admin_page(shop, server.url)
    await open_section(page, "Showtimes")

    await page.locator("#showtime-filter").get_by_label("Theater", exact=True).select_option(
        label=f"{theater}, Berlin")
    await page.get_by_role("button", name="Show showtimes").click()
    listed = page.locator("#showtime-list li")
    await expect(listed).to_have_count(1)
    await expect(listed).to_contain_text("VIP €9.00")
    await listed.get_by_role("button", name="Prices").click()

    form = page.locator("#override-form")
    await form.get_by_label("Seat type").fill("vip")
    await form.get_by_label("Price in EUR").fill("12.34")
    await expect(form.locator("output")).to_have_text("€12.34")
    await form.get_by_role("button", name="Set this showtime's price").click()
    await expect(form.locator("#override-list")).to_contain_text(
        "VIP: €12.34 (this showtime's price)")
    await expect(listed).to_contain_text("VIP €12.34")
    assert await serious_findings(page) == []

    picker = await shop.browsing.page(f"{server.url}/showtimes/{showtime_id}")
    await expect(picker.locator("#legend-types")).to_contain_text("€12.34")


async def test_the_seating_rules_round_trip_through_the_showtime_form(shop: Shop) -> None:
    title, screen, _, _ = await venue(shop.database_url)
    server = shop.server()
    page = await admin_page(shop, server.url)
    await open_section(page, "Showtimes")
    form = page.locator("#showtime-form")
    rules = form.get_by_role("group", name="Seating rules")
    no_orphans = rules.get_by_role("checkbox", name="No single seats left alone")
    companions = rules.get_by_role("checkbox", name="Sell companion seats to anyone")
    await expect(no_orphans).to_be_checked()  # the API's defaults for a new showtime
    await expect(companions).not_to_be_checked()
    await expect(no_orphans).to_have_accessible_description(re.compile("one free seat on its own"))

    await form.get_by_label("Movie").select_option(label=title)
    await form.get_by_label("Screen").select_option(label=screen)
    starts = (datetime.now() + timedelta(days=4)).replace(hour=17, minute=0)
    await form.get_by_label("Starts at").fill(starts.strftime("%Y-%m-%dT%H:%M"))
    await no_orphans.uncheck()
    await companions.check()
    await form.get_by_role("button", name="Save showtime").click()

    done = form.locator(".form-done")
    await expect(done).to_contain_text("Seating rules: single seats may be left alone; "
                                       "companion seats sold to anyone.")
    showtime_id = int((await done.inner_text()).split()[1])
    async with aiohttp.ClientSession() as http, http.get(
            f"{server.url}/api/showtimes/{showtime_id}") as resp:
        assert (await resp.json())["seating"] == {"no_orphans": False, "companions_alone": True}

    await page.get_by_role("button", name="Show showtimes").click()
    listed = page.locator("#showtime-list li", has_text=f"{showtime_id} · ")
    await listed.get_by_role("button", name="Edit").click()
    await expect(no_orphans).not_to_be_checked()
    await expect(companions).to_be_checked()
    await no_orphans.check()
    await form.get_by_role("button", name="Save showtime").click()
    await expect(done).to_contain_text("saved")
    await expect(done).to_contain_text("no single seats left alone; companion seats sold to "
                                       "anyone.")


async def test_showtime_and_sale_times_are_the_theaters_whatever_the_browsers_zone(
        shop: Shop) -> None:
    """The theater is in Berlin, the admin's browser in New York: both forms
    read and write Berlin's wall clock, across the change to summer time
    (Berlin: 31 March 2030; New York: 10 March), where the two zones' offsets
    differ by five hours, then six."""
    title, screen, _, _ = await venue(shop.database_url)
    server = shop.server(SEATSERVER_ONSALE_BEFORE="14d")
    page = await admin_page(shop, server.url, width=1366,
                                 timezone_id="America/New_York")
    assert await page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == \
        "America/New_York"
    await open_section(page, "Showtimes")
    form = page.locator("#showtime-form")
    await form.get_by_label("Movie").select_option(label=title)
    await form.get_by_label("Screen").select_option(label=screen)
    starts = form.get_by_label(re.compile("^Starts at"))
    await expect(form.locator("#showtime-zone")).to_have_text(
        "(the theater's time, Europe/Berlin)")
    await starts.fill("2030-04-02T20:00")  # summer time in Berlin
    await form.get_by_role("button", name="Save showtime").click()
    done = form.locator(".form-done")
    await expect(done).to_contain_text("created")
    await expect(done).to_contain_text("20:00")
    showtime = int((await done.inner_text()).split()[1])
    detail = await (await page.request.get(f"{server.url}/api/showtimes/{showtime}")).json()
    assert datetime.fromisoformat(detail["starts_at"]) == datetime(2030, 4, 2, 18, 0, tzinfo=UTC)

    row = page.locator("#showtime-list li", has_text=re.compile(rf"^{showtime} · "))
    await row.get_by_role("button", name="Edit").click()
    await expect(starts).to_have_value("2030-04-02T20:00")

    # The sale: the deployment's default first, said as such.
    await row.get_by_role("button", name="Sale").click()
    sale = page.locator("#sale-form")
    on_sale = sale.get_by_label(re.compile("^On sale at"))
    hint = sale.locator("#sale-on-sale-hint")
    await expect(sale.locator("#sale-zone")).to_have_text("(the theater's time, Europe/Berlin)")
    await expect(hint).to_contain_text("Default: 14 days before the start")
    await expect(on_sale).to_have_value("")
    await expect(on_sale).to_have_attribute("aria-describedby", re.compile("sale-on-sale-hint"))
    # Saved with the field empty: still the default, not pinned.
    save = sale.get_by_role("button", name="Save sale settings")
    await save.click()
    await expect(sale.get_by_role("status")).to_contain_text("the default 14 days before")
    await expect(hint).to_contain_text("Default: 14 days before the start")

    async def saved_at() -> datetime:
        answer = await (await page.request.get(
            f"{server.url}/api/admin/showtimes/{showtime}/sale")).json()
        assert answer["on_sale_source"] == "showtime"
        return datetime.fromisoformat(answer["on_sale_at"])

    # Winter time in Berlin (UTC+1), summer time in New York already.
    # Each save is waited for by its own status: the field holds what was typed
    # before the answer comes, and the status of the save before still says "Saved".
    status = sale.get_by_role("status")
    await on_sale.fill("2030-03-25T10:00")
    await save.click()
    await expect(status).to_contain_text("Mar 25, 10:00")
    await expect(hint).to_have_text("Set for this showtime. Empty: the default, 14 days before "
                                    "the start.")
    assert await saved_at() == datetime(2030, 3, 25, 9, 0, tzinfo=UTC)
    await expect(on_sale).to_have_value("2030-03-25T10:00")
    # 02:30 on the night clocks go forward does not exist there: it is 03:30.
    await on_sale.fill("2030-03-31T02:30")
    await save.click()
    await expect(status).to_contain_text("Mar 31, 03:30")
    await expect(on_sale).to_have_value("2030-03-31T03:30")
    assert await saved_at() == datetime(2030, 3, 31, 1, 30, tzinfo=UTC)
    # 02:30 on the night they go back happens twice: the first one.
    await on_sale.fill("2029-10-28T02:30")
    await save.click()
    await expect(status).to_contain_text("Oct 28, 02:30")
    await expect(on_sale).to_have_value("2029-10-28T02:30")
    assert await saved_at() == datetime(2029, 10, 28, 0, 30, tzinfo=UTC)
    assert await serious_findings(page) == []


SECTIONS = ["Movies", "Import movies", "Theaters", "Screens", "Showtimes", "Price rules",
            "Bookings", "Needs attention", "Reviews", "Staff", "House seats", "Sales", "Webhooks"]


async def test_each_section_shows_alone_by_link_or_hash_and_fits_a_phone(shop: Shop) -> None:
    await venue(shop.database_url)
    server = shop.server()
    page = await admin_page(shop, server.url, width=390)
    nav = page.get_by_role("navigation", name="Admin sections")
    await expect(nav.get_by_role("link")).to_have_text(SECTIONS)
    await expect(nav.get_by_role("link", name="Movies", exact=True)).to_have_attribute(
        "aria-current", "page")
    for name in SECTIONS:
        await open_section(page, name)
        link = nav.get_by_role("link", name=name, exact=True)
        await expect(link).to_have_attribute("aria-current", "page")
        await expect(page.get_by_role("heading", level=2, name=name, exact=True)).to_be_focused()
        # Only this section's heading shows, and nothing is wider than the phone.
        await expect(page.locator("#admin").get_by_role("heading", level=2)).to_have_count(1)
        assert await page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        ), name
        assert await serious_findings(page) == [], name

    # The hash names the section: a reload stays, and the keyboard follows a link.
    await page.reload()
    await expect(page.get_by_role("heading", level=2, name=SECTIONS[-1])).to_be_visible()
    await expect(page.get_by_role("heading", level=2, name="Movies", exact=True)).to_be_hidden()
    await nav.get_by_role("link", name="Price rules").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=2, name="Price rules")).to_be_focused()
    assert page.url.endswith("#prices")
    await page.go_back()
    await expect(page.get_by_role("heading", level=2, name=SECTIONS[-1])).to_be_visible()


# What a price field refuses, and what it says. Each message differs from the
# one before it, so a message can only be the answer to what was just typed.
NOT_PRICES = [
    ("12,50", "use a point for the decimals, as 12.50"),
    ("1e9", "use the digits 0 to 9 and a point only, as 12.50"),
    ("-5", "must not be negative"),
    ("١٢", "use the digits 0 to 9 and a point only, as 12.50"),
    ("12.505", "at most 2 decimals in EUR"),
    ("12\x00", "use the digits 0 to 9 and a point only, as 12.50"),
    ("99999999999", "at most 100000.00"),
    (" ", "must not be empty"),
]


async def test_a_price_typed_in_units_refuses_what_is_not_a_price_by_name(shop: Shop) -> None:
    _, _, theater, theater_id = await venue(shop.database_url)
    server = shop.server()
    page = await admin_page(shop, server.url, width=390)
    await open_section(page, "Price rules")
    form = page.locator("#price-form")
    await form.get_by_label("Theater").select_option(label=f"{theater}, Berlin")
    amount = form.get_by_label("Price in EUR")
    error = form.locator('.field-error[data-for="amount"]')
    for (typed, says), (_, said_before) in zip(NOT_PRICES, [("", ""), *NOT_PRICES],
                                               strict=False):
        assert says != said_before  # else a stale message could pass for this one
        await amount.fill(typed)
        await form.get_by_role("button", name="Set price").click()
        await expect(error).to_have_text(f"Price in EUR: {says}")
        await expect(amount).to_have_attribute("aria-invalid", "true")
        await expect(amount).to_have_accessible_description(re.compile(re.escape(says)))
        await expect(form.get_by_role("alert")).to_contain_text(says)

    # The same field, typed right: saved in cents, said so.
    await amount.fill("12.50")
    await expect(form.locator("output")).to_have_text("€12.50")
    await form.get_by_role("button", name="Set price").click()
    done = form.locator(".form-done")  # a status (the preview is an <output>, one too)
    await expect(done).to_have_text("Silver on a weekday now costs €12.50.")
    await expect(done).to_have_attribute("role", "status")
    await expect(amount).not_to_have_attribute("aria-invalid", "true")
    rules = await (await page.request.get(
        f"{server.url}/api/admin/theaters/{theater_id}/prices")).json()
    assert {"seat_type": "silver", "day_kind": "weekday", "amount": 1250} in [
        {k: r[k] for k in ("seat_type", "day_kind", "amount")} for r in rules["rules"]]


async def test_invalid_fields_are_all_named_in_plain_words_and_each_save_is_confirmed(
        shop: Shop) -> None:
    await venue(shop.database_url)
    server = shop.server()
    page = await admin_page(shop, server.url)
    form = page.locator("#movie-form")
    await form.get_by_label("Title").fill("")
    await form.get_by_role("button", name="Save movie").click()
    # Every field at fault at once, each marked and described, the first focused.
    for name, label in (("title", "Title"), ("slug", "Slug"),
                        ("runtime_min", "Runtime in minutes")):
        await expect(form.locator(f'.field-error[data-for="{name}"]')).to_have_text(
            f"{label}: must not be empty")
        field = form.get_by_label(label, exact=False).first
        await expect(field).to_have_attribute("aria-invalid", "true")
        await expect(field).to_have_accessible_description(f"{label}: must not be empty"
                                                           if name != "slug" else re.compile(
                                                               "Slug: must not be empty"))
    await expect(form.get_by_role("alert")).to_have_text(
        "3 fields need a change: Title, Slug, Runtime in minutes.")
    await expect(form.get_by_label("Title")).to_be_focused()
    assert await serious_findings(page) == []

    # What only the API can judge, in plain words too, never pydantic's.
    await form.get_by_label("Title").fill("Plain words")
    await form.get_by_label("Slug", exact=False).fill("Not A Slug")
    await form.get_by_label("Runtime in minutes").fill("95")
    await form.get_by_role("button", name="Save movie").click()
    await expect(form.locator('.field-error[data-for="slug"]')).to_have_text(
        "Slug: must be lower-case letters and digits, words joined by -, as northern-lights")
    await expect(form).not_to_contain_text("String should")
    await form.get_by_label("Slug", exact=False).fill(f"plain-{secrets.token_hex(3)}")
    await form.get_by_role("button", name="Save movie").click()
    await expect(form.get_by_role("status")).to_have_text('Movie "Plain words" created.')

    await open_section(page, "Theaters")
    theater = page.locator("#theater-form")
    await theater.get_by_label("Name").fill("Odeon")
    await theater.get_by_label("Slug").fill(f"odeon-{secrets.token_hex(3)}")
    await theater.get_by_label("City").fill("Lisbon")
    await theater.get_by_label("Time zone").fill("Europe/Lisbon")
    await theater.get_by_role("button", name="Save theater").click()
    await expect(theater.get_by_role("status")).to_have_text(
        'Theater "Odeon" created, its times in Europe/Lisbon.')
