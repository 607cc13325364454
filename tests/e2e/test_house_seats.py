"""House seats and the box office in Chromium: an admin blocks seats, a buyer
sees them not for sale, box-office staff sell one at the counter for cash and
release the other, which a buyer then buys online. Each page found by its
accessible names, and axe-clean."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from playwright.async_api import expect

from seatserver.accounts.passwords import Passwords
from seatserver.accounts.seed import ADMIN_EMAIL, seed_staff
from seatserver.db import create_pool
from seatserver.personal.setup import stored_keys
from tests.e2e.browsing import Shop
from tests.e2e.staff import enrol_admin, log_in_with_code, open_section
from tests.e2e.test_accessibility import serious_findings
from tests.personal_support import set_email

PASSWORD = "admin password for the test"
CLERK_EMAIL = "counter@example.com"
CLERK_SECRET = bytes(range(41, 61))


async def staff(database_url: str) -> None:
    """The admin, and a box-office account, both enrolled in two-factor."""
    pool = await create_pool(database_url, 2)
    try:
        await seed_staff(pool, await stored_keys(pool), admin_password=PASSWORD,
                         kiosk_password=None)
        await enrol_admin(pool, ADMIN_EMAIL)
        hashed = await Passwords(concurrency=1).hash(PASSWORD)
        async with pool.acquire() as conn:
            clerk = await conn.fetchval(
                "INSERT INTO users (kind, email, password_hash) VALUES ('box_office', $1, $2) "
                "RETURNING id", CLERK_EMAIL, hashed)
        await set_email(pool, clerk, CLERK_EMAIL)  # sealed, as the server keeps addresses
        await enrol_admin(pool, CLERK_EMAIL, CLERK_SECRET)
    finally:
        await pool.close()


async def test_blocked_seats_are_sold_at_the_counter_or_released_and_bought_online(
        shop: Shop) -> None:
    await staff(shop.database_url)
    server = shop.server()
    showtime = str(shop.showtime)

    admin = await shop.browsing.page(f"{server.url}/account")
    await log_in_with_code(admin, server.url, ADMIN_EMAIL, PASSWORD)
    await open_section(admin, "House seats")
    house = admin.locator("#house")
    await house.get_by_label("Showtime").select_option(showtime)
    e7 = house.get_by_role("button", name=re.compile(r"^Row E, seat 7,.*available$"))
    await e7.click()
    await house.get_by_role("button", name=re.compile(r"^Row E, seat 8,")).click()
    await expect(house.get_by_text("Chosen: Row E, seat 7 and Row E, seat 8")).to_be_visible()
    await house.get_by_label("Reason").select_option(label="Press")
    await house.get_by_role("button", name="Block seats", exact=True).click()
    await expect(house.locator(".form-done")).to_have_text(
        "Blocked Row E, seat 7 and Row E, seat 8: not for sale online.")
    await expect(house.get_by_role("button", name=re.compile(r"^Row E, seat 7,.*blocked: press$"))
                 ).to_be_visible()
    await expect(house.locator("#house-list")).to_contain_text("Row E, seat 7: press")
    assert await serious_findings(admin) == []

    buyer = await shop.browsing.picker(server.url, shop.showtime)
    await buyer.wait_live()
    await buyer.expect_look("E7", "blocked")
    await buyer.expect_look("E8", "blocked")
    await expect(buyer.seat("E7")).to_have_attribute("aria-label", re.compile("not on sale"))

    counter = await shop.browsing.page(f"{server.url}/account")
    await log_in_with_code(counter, server.url, CLERK_EMAIL, PASSWORD, CLERK_SECRET)
    await expect(counter).to_have_url(re.compile(r"/counter$"))
    await expect(counter.get_by_role("heading", name="Box office", level=1)).to_be_visible()
    await counter.get_by_role("combobox", name="Showtime").select_option(showtime)
    seats = counter.get_by_role("group", name="Seats of the showtime")
    await seats.get_by_role("button", name=re.compile(r"^Row E, seat 7,.*blocked: press$")).click()
    await expect(counter.get_by_role("radio", name="Cash")).to_be_checked()
    await counter.get_by_role("button", name="Sell 1 seat").click()
    done = counter.locator("#counter-form .form-done")
    await expect(done).to_contain_text(re.compile(r"^Sold Row E, seat 7 for €[\d.]+ in cash\. "
                                                  r"Booking [A-Z0-9]{10}\.$"))
    await buyer.expect_look("E7", "booked")
    await expect(seats.get_by_role("button", name=re.compile(r"^Row E, seat 7,.*sold$"))
                 ).to_have_attribute("aria-disabled", "true")

    await seats.get_by_role("button", name=re.compile(r"^Row E, seat 8,")).click()
    await counter.get_by_role("button", name="Release to online sale").click()
    await expect(done).to_have_text("Row E, seat 8 is on sale online again.")
    assert await serious_findings(counter) == []

    await buyer.expect_look("E8", "available")
    await buyer.hold("E8")
    await buyer.give_email()
    await buyer.checkout.click()
    await buyer.page.wait_for_url(re.compile(r"/pay/sim_\w+$"))
    await buyer.page.get_by_role("button", name=re.compile("^Pay")).click()
    await buyer.page.wait_for_url(re.compile(r"/bookings/[A-Za-z0-9]+$"))
    await expect(buyer.page.get_by_role("heading", level=1)).to_have_text("You're booked")


async def test_the_counter_turns_away_someone_who_is_not_box_office_staff(shop: Shop) -> None:
    server = shop.server()
    page = await shop.browsing.page(f"{server.url}/counter")
    await expect(page.locator("#who")).to_have_text("Not signed in.")
    await expect(page.get_by_role("link", name="Log in with a box-office account")).to_be_visible()
    assert await serious_findings(page) == []


async def test_an_admin_makes_a_kiosk_board_box_office_staff_from_the_staff_list(
        shop: Shop) -> None:
    await staff(shop.database_url)
    pool = await create_pool(shop.database_url, 2)
    try:
        async with pool.acquire() as conn:
            lobby = await conn.fetchval(
                "INSERT INTO users (kind, email, password_hash) "
                "VALUES ('kiosk', 'lobby@example.com', '$argon2id$x') RETURNING id")
        await set_email(pool, lobby, "lobby@example.com")
    finally:
        await pool.close()
    server = shop.server()
    page = await shop.browsing.page(f"{server.url}/account")
    await log_in_with_code(page, server.url, ADMIN_EMAIL, PASSWORD)
    await open_section(page, "Staff")
    row = page.locator("#staff-list li").filter(has_text="lobby@example.com")
    await row.get_by_role("button", name="Make box office").click()
    await expect(page.locator("#staff-form")).to_contain_text(
        "lobby@example.com sells at the box office now.")
    await expect(page.locator("#staff-list li").filter(has_text="lobby@example.com")
                 ).to_contain_text("box office · two-factor not set up")
    clerk = page.locator("#staff-list li").filter(has_text=CLERK_EMAIL)
    await expect(clerk).to_contain_text("box office · two-factor on")


async def test_showtimes_to_choose_say_the_theaters_time_and_zone_and_the_counter_fits_a_phone(
        shop: Shop) -> None:
    """The House seats section and the counter list showtimes at the theater's
    wall-clock time, labelled with its zone, from a browser in another zone;
    on a phone the counter's chooser of those long names stays on the screen."""
    await staff(shop.database_url)
    server = shop.server()
    pool = await create_pool(shop.database_url, 1)
    try:
        starts, zone = await pool.fetchrow(
            "SELECT s.starts_at, t.time_zone FROM showtimes s JOIN screens c "
            "ON c.id = s.screen_id JOIN theaters t ON t.id = c.theater_id WHERE s.id = $1",
            shop.showtime)
    finally:
        await pool.close()
    wall = f"{starts.astimezone(ZoneInfo(zone)):%H:%M} ({zone}) · "
    elsewhere = "Pacific/Auckland" if zone != "Pacific/Auckland" else "America/Chicago"

    admin = await shop.browsing.page(f"{server.url}/account", timezone_id=elsewhere)
    await log_in_with_code(admin, server.url, ADMIN_EMAIL, PASSWORD)
    await open_section(admin, "House seats")
    house = admin.locator("#house").get_by_label("Showtime")
    await expect(house.locator(f'option[value="{shop.showtime}"]')).to_contain_text(wall)

    counter = await shop.browsing.page(f"{server.url}/account", timezone_id=elsewhere,
                                       width=390, height=844)
    await log_in_with_code(counter, server.url, CLERK_EMAIL, PASSWORD, CLERK_SECRET)
    await expect(counter).to_have_url(re.compile(r"/counter$"))
    chooser = counter.get_by_role("combobox", name="Showtime")
    await expect(chooser.locator(f'option[value="{shop.showtime}"]')).to_contain_text(wall)
    await expect(counter.get_by_role("group", name="Seats of the showtime")
                 .get_by_role("button").first).to_be_visible()
    # Nothing wider than the phone: the page does not scroll sideways (the hall's
    # grid scrolls inside its own box), and the chooser ends inside the screen.
    assert await counter.evaluate(
        "document.documentElement.scrollWidth <= innerWidth"), "the page scrolls sideways"
    box = await chooser.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    # The hall is wider than the phone: a line says where the rest is, as in House seats.
    right = "More seats to the right, out of view: scroll the seats sideways."
    await expect(counter.get_by_text(re.compile("^More seats to the"))).to_have_text(right)
    await expect(counter.get_by_role("group", name="Seats of the showtime")
                 ).to_have_accessible_description(right)
    assert await serious_findings(counter) == []


async def test_on_a_phone_the_house_seats_map_says_which_side_is_out_of_view(
        shop: Shop) -> None:
    """The hall is wider than a phone: its map scrolls in its box, and a line
    above it (the picker's words, shared) says where the rest is, read with
    the map too, and goes once the whole hall fits."""
    await staff(shop.database_url)
    server = shop.server()
    admin = await shop.browsing.page(f"{server.url}/account", width=390, height=844)
    await log_in_with_code(admin, server.url, ADMIN_EMAIL, PASSWORD)
    await open_section(admin, "House seats")
    house = admin.get_by_role("region", name="House seats")
    await house.get_by_label("Showtime").select_option(str(shop.showtime))
    seats = house.get_by_role("group", name="Seats to block or unblock")
    await expect(seats.get_by_role("button").first).to_be_visible()
    hint = house.get_by_text(re.compile("^More seats to the"))
    right = "More seats to the right, out of view: scroll the seats sideways."
    await expect(hint).to_have_text(right)
    await expect(seats).to_have_accessible_description(right)
    # Halfway along, both sides; at the end, the left.
    await seats.evaluate("box => { box.scrollLeft = (box.scrollWidth - box.clientWidth) / 2; }")
    await expect(hint).to_have_text(
        "More seats to the left and right, out of view: scroll the seats sideways.")
    await seats.evaluate("box => { box.scrollLeft = box.scrollWidth; }")
    await expect(hint).to_have_text(
        "More seats to the left, out of view: scroll the seats sideways.")
    assert await admin.evaluate(
        "document.documentElement.scrollWidth <= innerWidth"), "the page scrolls sideways"
    assert await serious_findings(admin) == []

    await admin.set_viewport_size({"width": 1800, "height": 900})
    await expect(hint).to_be_hidden()
    await expect(seats).to_have_accessible_description("")
