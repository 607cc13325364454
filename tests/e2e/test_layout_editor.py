"""The seat-layout editor on /admin in Chromium: a hall drawn from nothing on
the grid is saved, comes back on reload, and is what the picker shows; undo
and redo; editing with the keyboard alone; a save that would drop a sold seat
marks that seat on the grid; hostile labels and numbers get words, not a 500."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.async_api import Locator, Page, expect

from seatserver.catalog.admin import CatalogAdminStore
from seatserver.catalog.inputs import ShowtimeInput
from seatserver.catalog.store import CatalogStore
from seatserver.db import create_pool
from tests.catalog.test_layouts import sell
from tests.e2e.browsing import Shop
from tests.e2e.staff import open_section
from tests.e2e.test_accessibility import serious_findings
from tests.e2e.test_admin import admin_page, venue


def cell(page: Page, name: str) -> Locator:
    return page.get_by_role("gridcell", name=name, exact=True)


async def add_row(page: Page, label: str, seats: int, seat_type: str = "silver") -> None:
    tools = page.get_by_role("group", name="Add a row")
    await tools.get_by_label("Row label").fill(label)
    await tools.get_by_label("Seats in the row").fill(str(seats))
    await tools.get_by_label("Type of its seats").select_option(seat_type)
    await tools.get_by_role("button", name="Add row").click()


async def new_screen(page: Page, theater: str, name: str) -> None:
    form = page.locator("#screen-form")
    await form.get_by_label("Theater").select_option(label=f"{theater}, Berlin")
    await form.get_by_label("Name").fill(name)


async def draw_small_hall(page: Page) -> None:
    """Three rows of eight with an aisle after seat 4, A1 a wheelchair space
    with A2 its companion, row C gold."""
    await add_row(page, "A", 8)
    await add_row(page, "B", 8)
    await add_row(page, "C", 8, "gold")
    await cell(page, "A5, silver").click()
    await page.get_by_role("button", name="Insert aisle").click()
    await cell(page, "A1, silver").click()
    await page.get_by_role("button", name="Wheelchair space").click()
    await cell(page, "A2, silver").click()
    await page.get_by_role("button", name="Companion seat").click()


async def screen_id(database_url: str, name: str) -> int:
    pool = await create_pool(database_url, 2)
    try:
        async with pool.acquire() as conn:
            found: int = await conn.fetchval("SELECT id FROM screens WHERE name = $1", name)
            return found
    finally:
        await pool.close()


async def show_on(database_url: str, screen: int, title: str, days: int = 3) -> int:
    pool = await create_pool(database_url, 2)
    try:
        async with pool.acquire() as conn:
            movie_id = await conn.fetchval("SELECT id FROM movies WHERE title = $1", title)
        starts = (datetime.now(UTC) + timedelta(days=days)).replace(second=0, microsecond=0)
        showtime = await CatalogAdminStore(pool, CatalogStore(pool)).create_showtime(
            ShowtimeInput(movie_id=movie_id, screen_id=screen, starts_at=starts))
    finally:
        await pool.close()
    return showtime.id


async def test_a_hall_drawn_on_the_grid_is_saved_reloaded_and_what_the_picker_shows(
        shop: Shop) -> None:
    title, _, theater, _ = await venue(shop.database_url)
    server = shop.server()
    page = await admin_page(shop, server.url, width=1366)
    await open_section(page, "Screens")
    await new_screen(page, theater, "Green")
    await draw_small_hall(page)
    preview = page.locator("#layout-preview")
    await expect(preview).to_have_attribute("aria-label", "Seat layout preview: 3 rows, 24 seats")
    await expect(preview.locator(".seat")).to_have_count(24)
    await page.locator("#screen-form").get_by_role("button", name="Save screen").click()
    edit = page.get_by_role("button", name="Edit screen Green")
    await expect(edit).to_be_visible()

    await page.reload()
    await page.get_by_role("button", name="Edit screen Green").click()
    await expect(cell(page, "A1, silver, wheelchair space")).to_be_visible()
    await expect(cell(page, "A2, silver, companion of A1")).to_be_visible()
    await expect(cell(page, "C8, gold")).to_be_visible()
    await expect(cell(page, "Row A, column 5, empty")).to_be_visible()  # the aisle
    await expect(cell(page, "Row C, column 5, empty")).to_be_visible()
    await expect(page.get_by_role("gridcell", name=re.compile(r"^[ABC]\d, "))).to_have_count(24)

    showtime = await show_on(shop.database_url, await screen_id(shop.database_url, "Green"),
                             title)
    picker = await shop.browsing.picker(server.url, showtime, width=1366)
    seats = picker.page.locator(".seat")
    await expect(seats).to_have_count(24)
    await expect(picker.seat("A1")).to_have_attribute(
        "aria-label", re.compile(r"\bSilver, wheelchair space\b"))
    for seat_id, seat_type in (("A2", "Silver"), ("B8", "Silver"), ("C1", "Gold"),
                               ("C8", "Gold")):
        await expect(picker.seat(seat_id)).to_have_attribute(
            "aria-label", re.compile(rf"\b{seat_type}, €"))
    columns = {s: int(await picker.seat(s).evaluate("e => e.style.gridColumn"))
               for s in ("B3", "B4", "B5")}
    assert columns["B4"] - columns["B3"] == 1
    assert columns["B5"] - columns["B4"] == 2  # the aisle between 4 and 5


async def test_undo_and_redo_by_buttons_and_keys(shop: Shop) -> None:
    await venue(shop.database_url)
    server = shop.server()
    page = await admin_page(shop, server.url)
    await open_section(page, "Screens")
    undo = page.get_by_role("button", name="Undo")
    redo = page.get_by_role("button", name="Redo")
    await expect(undo).to_be_disabled()
    await add_row(page, "A", 4)
    await cell(page, "A2, silver").click()
    await page.get_by_role("button", name="Remove seats").click()
    await expect(cell(page, "Row A, column 2, empty")).to_be_visible()

    await undo.click()
    await expect(cell(page, "A2, silver")).to_be_visible()
    await redo.click()
    await expect(cell(page, "Row A, column 2, empty")).to_be_visible()
    await expect(redo).to_be_disabled()

    await cell(page, "A3, silver").focus()
    await page.keyboard.press("Control+z")
    await expect(cell(page, "A2, silver")).to_be_visible()
    await page.keyboard.press("Control+z")
    await expect(page.get_by_role("grid")).to_be_hidden()  # back to no rows at all
    await page.keyboard.press("Control+Shift+z")
    await page.keyboard.press("Control+Shift+z")
    await expect(cell(page, "Row A, column 2, empty")).to_be_visible()
    json = page.locator("#screen-layout")
    await page.get_by_text("Advanced: the layout as JSON").click()
    await expect(json).to_have_value(re.compile(
        r'"row": ?"A", ?"seats": ?\[\{"number": ?1, ?"type": ?"silver"\}, ?\{"gap": ?1\}'))


async def test_the_grid_is_edited_with_the_keyboard_alone(shop: Shop) -> None:
    await venue(shop.database_url)
    server = shop.server()
    page = await admin_page(shop, server.url)
    await open_section(page, "Screens")
    label = page.get_by_label("Row label")
    await label.focus()
    await page.keyboard.press("Control+a")
    await page.keyboard.type("A")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Control+a")
    await page.keyboard.type("6")
    await page.keyboard.press("Enter")  # adds the row; does not save the screen
    await expect(cell(page, "A6, silver")).to_be_visible()
    await expect(label).to_have_value("B")
    await page.keyboard.press("Enter")
    await expect(cell(page, "B6, silver")).to_be_visible()
    await expect(page.locator("#screen-form .form-error")).to_be_hidden()

    for _ in range(40):  # Tab on to the grid's one tab stop
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.getAttribute('role')") == "gridcell":
            break
    focused = page.locator(":focus")
    await expect(focused).to_have_accessible_name("A1, silver")
    await page.keyboard.press("ArrowRight")
    await page.keyboard.press("ArrowRight")
    await expect(focused).to_have_accessible_name("A3, silver")
    await page.keyboard.press("Space")
    await page.keyboard.press("Shift+ArrowRight")
    await page.keyboard.press("Shift+ArrowDown")
    await expect(page.locator("#layout-selection")).to_have_text(
        "4 cells selected, 4 of them seats.")
    await page.keyboard.press("Delete")
    await expect(cell(page, "Row A, column 3, empty")).to_be_visible()
    await expect(cell(page, "Row B, column 4, empty")).to_be_visible()
    await page.keyboard.press("Control+z")
    await expect(cell(page, "B4, silver")).to_be_visible()

    await page.keyboard.press("Escape")
    await page.keyboard.press("Home")
    await page.keyboard.press("ArrowUp")
    await expect(focused).to_have_accessible_name("A1, silver")
    await page.keyboard.press("w")
    await page.keyboard.press("ArrowRight")
    await page.keyboard.press("c")
    await expect(cell(page, "A1, silver, wheelchair space")).to_be_visible()
    await expect(cell(page, "A2, silver, companion of A1")).to_be_visible()
    await expect(focused).to_have_accessible_name("A2, silver, companion of A1")


async def test_an_edit_dropping_a_sold_seat_is_refused_and_marked_on_the_grid(
        shop: Shop) -> None:
    title, _, _, theater_id = await venue(shop.database_url)
    pool = await create_pool(shop.database_url, 2)
    try:
        async with pool.acquire() as conn:
            screen = await conn.fetchval("SELECT id FROM screens WHERE theater_id = $1",
                                         theater_id)
    finally:
        await pool.close()
    showtime = await show_on(shop.database_url, screen, title)
    pool = await create_pool(shop.database_url, 2)
    try:
        await sell(pool, showtime, ["A3"])
    finally:
        await pool.close()
    server = shop.server()
    page = await admin_page(shop, server.url, width=1366)
    await open_section(page, "Screens")
    await page.get_by_role("button", name="Edit screen Blue").click()
    await cell(page, "A3, gold").click()
    await page.get_by_role("button", name="Remove seats").click()
    await expect(cell(page, "Row A, column 4, empty")).to_be_visible()
    await page.locator("#screen-form").get_by_role("button", name="Save screen").click()

    marked = cell(page, "Row A, column 4, empty, sold seat A3 would disappear")
    await expect(marked).to_be_visible()
    await expect(marked).to_have_class(re.compile(r"\brefused\b"))
    await expect(page.locator("#layout-message")).to_contain_text(
        "Not saved: sold seats would disappear: A3.")
    await expect(page.locator("#screen-form .form-error")).to_contain_text(
        "seats sold for coming showtimes would disappear: A3")
    assert await serious_findings(page) == []


async def test_hostile_row_labels_and_seat_numbers_get_words_not_a_500(shop: Shop) -> None:
    title, _, theater, _ = await venue(shop.database_url)
    server = shop.server()
    page = await admin_page(shop, server.url)
    await open_section(page, "Screens")
    message = page.locator("#layout-message")
    for bad, says in [("A\x00", "letters (A to Z) or digits (0 to 9)"),
                      ("A" * 500, "at most 4 characters"),
                      ("١٢", "letters (A to Z) or digits (0 to 9)"), ("", "needs a label")]:
        await add_row(page, bad, 4)
        await expect(message).to_contain_text("Row label: ")
        await expect(message).to_contain_text(says)
    for bad, says in [("١٢", "in digits 0 to 9"), ("9" * 500, "up to 999"), ("0", "start at 1"),
                      ("4\x00", "in digits 0 to 9")]:
        await add_row(page, "A", 4)  # only the first is added
        await page.get_by_role("group", name="Add a row").get_by_label(
            "Seats in the row").fill(bad)
        await page.get_by_role("button", name="Add row").click()
        await expect(message).to_contain_text(says)
    await expect(page.get_by_role("gridcell", name=re.compile(r"^[A-Z]\d, "))).to_have_count(4)

    await cell(page, "A1, silver").click()
    rows = page.get_by_role("group", name="Rows")
    for bad in ("٣", "x" * 500, "1\x00"):
        await rows.get_by_label("First seat number").fill(bad)
        await rows.get_by_role("button", name="Renumber rows").click()
        await expect(message).to_contain_text("First seat number: ")
    await rows.get_by_label("New label of the cursor's row").fill("Z" * 500)
    await rows.get_by_role("button", name="Rename row").click()
    await expect(message).to_contain_text("at most 4 characters")

    # Past the editor, straight in the JSON: the server's refusal, in words.
    await new_screen(page, theater, "Hostile")
    await page.get_by_text("Advanced: the layout as JSON").click()
    json = page.get_by_label("Seat layout (JSON)")
    save = page.locator("#screen-form").get_by_role("button", name="Save screen")
    await json.fill('{"rows": [{"row": "A\\u0000", "seats": [{"number": 1, "type": "silver"}]}]}')
    await save.click()
    await expect(page.locator("#screen-form .form-error")).to_contain_text(
        "the body contains a NUL character")
    await json.fill('{"rows": [{"row": "%s", "seats": [{"number": 1, "type": "silver"}]}]}'
                    % ("A" * 500))
    await save.click()
    error = page.locator('#screen-form .field-error[data-for="layout"]')
    await expect(error).to_have_text(  # pydantic's words made plain
        "Seat layout (JSON): row #1, row: must be 1 to 4 letters or digits, as A or AA")
    await json.fill('{"rows": [{"row": "A", "seats": [{"number": "١٢", "type": "silver"}]}]}')
    await expect(message).to_contain_text("The JSON cannot be drawn yet")
    await page.locator("#screen-form").get_by_role("button", name="Save screen").click()
    await expect(page.locator('#screen-form .field-error[data-for="layout"]')).to_contain_text(
        "number: must be a whole number")
    assert title


async def test_the_json_and_the_grid_follow_each_other(shop: Shop) -> None:
    await venue(shop.database_url)
    server = shop.server()
    page = await admin_page(shop, server.url)
    await open_section(page, "Screens")
    await page.get_by_text("Advanced: the layout as JSON").click()
    json = page.get_by_label("Seat layout (JSON)")
    await json.fill('{"rows": [{"row": "K", "seats": [{"gap": 2}, {"number": 7, "type": "vip"},'
                    ' {"number": 8, "type": "vip", "accessible": true}]}]}')
    await expect(cell(page, "K7, vip")).to_be_visible()
    await expect(cell(page, "Row K, column 2, empty")).to_be_visible()
    await cell(page, "K8, vip, wheelchair space").click()
    await page.get_by_role("button", name="Wheelchair space").click()
    await expect(json).to_have_value(re.compile(r'"number": ?8, ?"type": ?"vip"\}'))
    await json.fill("{not json")
    await expect(page.locator("#layout-message")).to_contain_text("The JSON cannot be drawn yet")
    await expect(cell(page, "K8, vip")).to_be_visible()
