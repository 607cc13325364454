"""The picker as a buyer uses it on a 390x844 phone and a 1366x768 laptop
(issue 17, "The buyer's evening"): what stays in view, what moves and what
does not, and what the map says about seats, in Chromium against a real server."""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import datetime

import aiohttp
import pytest
from playwright.async_api import Locator, Page, expect

from seatserver.catalog.pricing import day_kind
from seatserver.catalog.seed import PRICES, TIME_ZONE
from tests.e2e.browsing import Browsing, Picker, Shop, someone_else
from tests.e2e.server import Server, ServerFactory

PHONE = {"width": 390, "height": 844, "phone": 1}
LAPTOP = {"width": 1366, "height": 768}
# The demo hall's rows have 18 seats (rows C to L); E18 ends row E on the right.
ROW_END = "E18"


async def box(locator: Locator) -> dict[str, float]:
    found = await locator.bounding_box()
    assert found is not None, f"{locator} is not laid out"
    return found


async def phone_picker(browsing: Browsing, server: Server, showtime: int) -> Picker:
    return await browsing.picker(server.url, showtime, width=390, height=844, phone=True)


def checkout_button(page: Page) -> Locator:
    return page.get_by_role("button", name=re.compile("^Checkout"))


async def test_on_a_phone_seats_total_time_left_and_checkout_stay_on_screen(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    picker = await phone_picker(browsing, server, showtimes[0])
    page = picker.page

    await picker.seat("G9").tap()
    await picker.expect_look("G9", "mine")
    await picker.seat("G10").tap()
    await picker.expect_look("G10", "mine")
    await expect(page.get_by_role("tooltip")).to_be_hidden()  # not left over the map by a tap

    bar = page.locator("#basket-bar")
    await expect(bar).to_contain_text("2 seats")
    await expect(bar).to_contain_text("€25.00")
    await expect(bar).to_contain_text(re.compile(r"\d:\d\d left"))
    checkout = checkout_button(page)
    await expect(checkout).to_be_enabled()
    for scroll in ("0", "document.documentElement.scrollHeight / 2",
                   "document.documentElement.scrollHeight"):
        await page.evaluate(f"window.scrollTo(0, {scroll})")
        button = await box(checkout)
        assert button["y"] >= 0 and button["y"] + button["height"] <= 844, (scroll, button)

    # The bar covers neither the page's end nor, scrolled to, the map's last row.
    top = (await box(bar))["y"]
    end = await page.evaluate("document.querySelector('main').getBoundingClientRect().bottom")
    assert end <= top
    await page.evaluate("document.querySelector('.seat[data-id=\"L9\"]')"
                        ".scrollIntoView({block: 'end'})")
    assert (await box(picker.seat("L9")))["y"] + (await box(picker.seat("L9")))["height"] <= top


async def test_on_a_phone_the_bar_is_there_before_the_first_seat_and_after_the_last(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    """"Always visible while picking": the bar does not wait for a seat to appear,
    nor go when the last one is let go; with none, it says so and Checkout waits."""
    picker = await phone_picker(browsing, server, showtimes[0])
    page = picker.page
    bar = page.locator("#basket-bar")
    checkout = checkout_button(page)
    none_yet = bar.get_by_text("No seats yet")

    async def at_the_bottom() -> None:
        found = await box(bar)
        assert abs(found["y"] + found["height"] - 844) < 1, found
        button = await box(checkout)
        assert button["y"] >= found["y"] and button["y"] + button["height"] <= 844, button

    await expect(none_yet).to_be_visible()
    await expect(checkout).to_be_disabled()
    assert (await box(bar))["height"] < 80  # one line: it hides little of the hall
    for scroll in ("0", "document.documentElement.scrollHeight"):
        await page.evaluate(f"window.scrollTo(0, {scroll})")
        await at_the_bottom()
    end = await page.evaluate("document.querySelector('main').getBoundingClientRect().bottom")
    assert end <= (await box(bar))["y"]  # the page's end scrolls above it

    await page.evaluate("window.scrollTo(0, 0)")
    await picker.seat("G9").tap()
    await picker.expect_look("G9", "mine")
    await expect(bar).to_contain_text("1 seat")
    await expect(none_yet).to_be_hidden()
    await expect(checkout).to_be_enabled()
    await at_the_bottom()

    await picker.seat("G9").tap()
    await picker.expect_look("G9", "available")
    await expect(none_yet).to_be_visible()
    await expect(checkout).to_be_disabled()
    await at_the_bottom()


async def test_on_a_laptop_the_total_and_checkout_are_on_screen_as_seats_are_picked(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    """The basket heads the side column: after two seats, at 1366x768 and
    without scrolling, a buyer sees the time left, the total and Checkout
    (they were ~250 px below the fold, under best available and the list)."""
    picker = await browsing.picker(server.url, showtimes[0], **LAPTOP)
    page = picker.page
    await picker.hold("G9")
    await picker.hold("G10")
    await expect(page.locator("#basket-total")).to_have_text(re.compile(r"\d"))

    assert await page.evaluate("window.scrollY") == 0
    for part in (page.locator("#basket-timer"), page.locator("#basket-summary"),
                 checkout_button(page)):
        found = await box(part)
        assert found["y"] >= 0 and found["y"] + found["height"] <= 768, found
    best = await box(page.get_by_role("heading", name="Best available"))
    assert (await box(checkout_button(page)))["y"] < best["y"]


async def test_on_a_laptop_checkout_stays_in_the_basket(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    picker = await browsing.picker(server.url, showtimes[0], **LAPTOP)
    await picker.hold("G9")

    await expect(picker.page.locator("#basket-bar #checkout")).to_be_visible()
    position = await picker.page.evaluate(
        "getComputedStyle(document.querySelector('#basket-bar')).display")
    assert position == "contents"
    assert await picker.page.evaluate("document.body.style.paddingBottom") == ""
    # Seen top to bottom: seats, count and total, where the ticket goes, Checkout;
    # the Tab key meets the fields before Checkout too.
    page = picker.page
    contact = page.get_by_role("group", name="Where we send your ticket")
    parts = [picker.basket, page.locator("#basket-summary"), contact, checkout_button(page)]
    tops = [(await box(part))["y"] for part in parts]
    assert tops == sorted(tops), tops
    await contact.get_by_label("Phone").focus()
    await page.keyboard.press("Tab")
    await expect(checkout_button(page)).to_be_focused()


async def test_on_a_phone_the_hall_fits_the_width_and_zooms_in_to_24_px_targets(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    picker = await phone_picker(browsing, server, showtimes[0])
    page = picker.page
    hint = page.locator("#scroll-hint")

    last = await box(picker.seat(ROW_END))
    assert last["x"] + last["width"] <= 390
    await expect(hint).to_be_hidden()
    await expect(page.get_by_role("button", name="Zoom out")).to_be_disabled()
    top = (await box(page.locator("#map")))["y"]

    await page.get_by_role("button", name="Zoom in").click()
    seat = await box(picker.seat("E9"))
    assert seat["width"] >= 24 and seat["height"] >= 24, seat
    await expect(hint).to_be_visible()
    await expect(hint).to_contain_text("More seats to the left and right, out of view")
    await page.evaluate("document.querySelector('#map').scrollLeft = 0")
    await expect(hint).to_contain_text("More seats to the right, out of view")
    assert (await box(page.locator("#map")))["y"] == top  # the words never move the map
    assert (await box(picker.seat(ROW_END)))["x"] >= 390 or \
        (await box(picker.seat("E1")))["x"] < 0
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390  # map alone
    await picker.seat("E9").tap()
    await picker.expect_look("E9", "mine")

    await page.get_by_role("button", name="Fit").click()
    await expect(hint).to_be_hidden()
    last = await box(picker.seat(ROW_END))
    assert last["x"] + last["width"] <= 390


async def test_the_map_zooms_from_the_keyboard(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    picker = await phone_picker(browsing, server, showtimes[0])
    page = picker.page
    fitted = (await box(picker.seat("E9")))["width"]

    await picker.seat("E9").focus()
    await page.keyboard.press("+")
    await page.keyboard.press("+")
    zoomed = await box(picker.seat("E9"))
    assert zoomed["width"] >= 36 > fitted
    await expect(picker.seat("E9")).to_be_focused()
    assert zoomed["x"] >= 0 and zoomed["x"] + zoomed["width"] <= 390  # kept in view
    await page.keyboard.press("-")
    assert 24 <= (await box(picker.seat("E9")))["width"] < zoomed["width"]
    await page.keyboard.press("0")
    assert (await box(picker.seat("E9")))["width"] == fitted

    # The buttons by keyboard too.
    zoom_in = page.get_by_role("button", name="Zoom in")
    await zoom_in.focus()
    await page.keyboard.press("Enter")
    assert (await box(picker.seat("E9")))["width"] >= 24


async def test_on_a_laptop_a_zoomed_map_pans_under_a_mouse_drag_without_holding(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    picker = await browsing.picker(server.url, showtimes[0], **LAPTOP)
    page = picker.page
    zoom_in = page.get_by_role("button", name="Zoom in")
    while await zoom_in.is_enabled():  # to the largest seats
        await zoom_in.click()
    await expect(page.locator("#scroll-hint")).to_contain_text("left and right")
    before = await page.evaluate("document.querySelector('#map').scrollLeft")
    start = await box(picker.seat("E9"))

    await page.mouse.move(start["x"] + 10, start["y"] + 10)
    await page.mouse.down()
    await page.mouse.move(start["x"] - 40, start["y"] + 10, steps=5)
    await page.mouse.move(start["x"] - 90, start["y"] + 10, steps=5)
    await page.mouse.up()

    after = await page.evaluate("document.querySelector('#map').scrollLeft")
    assert abs(after - (before + 100)) < 1, (before, after)
    assert await picker.look("E9") == "available"  # a drag is no click
    await picker.seat("E9").click()  # and the next click is one
    await picker.expect_look("E9", "mine")


async def test_pinching_the_map_zooms_it(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    picker = await phone_picker(browsing, server, showtimes[0])
    page = picker.page
    fitted = (await box(picker.seat("E9")))["width"]
    map_box = await box(page.locator("#map"))
    y = map_box["y"] + map_box["height"] / 2
    x = map_box["x"] + map_box["width"] / 2
    cdp = await page.context.new_cdp_session(page)

    async def touch(kind: str, spread: float) -> None:
        points = [{"x": x - spread, "y": y, "id": 1}, {"x": x + spread, "y": y, "id": 2}]
        await cdp.send("Input.dispatchTouchEvent",
                       {"type": kind, "touchPoints": [] if kind == "touchEnd" else points})

    await touch("touchStart", 20)
    for spread in (30, 45, 60, 80):
        await touch("touchMove", spread)
    await touch("touchEnd", 80)

    pinched = await box(picker.seat("E9"))
    assert pinched["width"] >= max(24, fitted * 2), (fitted, pinched)
    await expect(page.locator("#scroll-hint")).to_be_visible()


async def test_on_a_laptop_the_legend_with_prices_is_above_the_fold(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    picker = await browsing.picker(server.url, showtimes[0], **LAPTOP)
    legend = picker.page.get_by_role("region", name="Legend")

    # Silver costs more at weekends (the demo's prices): this showtime's day says which.
    async with aiohttp.ClientSession() as http, \
            http.get(f"{server.url}/api/showtimes/{showtimes[0]}") as resp:
        starts_at = datetime.fromisoformat((await resp.json())["starts_at"])
    silver = PRICES[day_kind(starts_at, TIME_ZONE)]["silver"]
    await expect(legend).to_contain_text("Gold€12.50")
    await expect(legend).to_contain_text(f"Silver€{silver // 100}.{silver % 100:02}")
    await expect(legend).to_contain_text("Booked by you")
    found = await box(legend)
    assert found["y"] + found["height"] <= 768, found


async def test_every_seat_has_a_tooltip_on_hover_and_on_focus(
        browsing: Browsing, start_server: ServerFactory, showtimes: list[int]) -> None:
    server = start_server(SEATSERVER_HOLD_TTL="240")
    picker = await browsing.picker(server.url, showtimes[0], **LAPTOP)
    page = picker.page
    tip = page.get_by_role("tooltip")

    await picker.seat("E6").hover()
    await expect(tip).to_be_visible()
    await expect(tip).to_have_text(re.compile(r"^Row E, seat 6 · Gold · €12\.50\s*Available$"))
    await page.mouse.move(0, 0)
    await expect(tip).to_be_hidden()

    async with someone_else(server.url, showtimes[0]) as other:
        assert (await other.hold(showtimes[0], ["E5"]))["ok"]
        await picker.expect_look("E5", "held")
        await picker.seat("E6").focus()
        await expect(tip).to_contain_text("Row E, seat 6")
        await page.keyboard.press("ArrowLeft")
        await expect(tip).to_have_text(re.compile(
            r"Row E, seat 5 · Gold · €12\.50\s*Held by someone else: frees in [34]:\d\d"))
        box_seat, box_tip = await box(picker.seat("E5")), await box(tip)
        assert abs((box_tip["x"] + box_tip["width"] / 2)
                   - (box_seat["x"] + box_seat["width"] / 2)) < 2  # beside the seat


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["phone", "laptop"])
async def test_a_message_does_not_move_the_seats(
        browsing: Browsing, server: Server, showtimes: list[int],
        viewport: dict[str, int]) -> None:
    picker = await browsing.picker(server.url, showtimes[0], width=viewport["width"],
                                   height=viewport["height"], phone="phone" in viewport)
    page = picker.page
    async with someone_else(server.url, showtimes[0]) as other:
        assert (await other.hold(showtimes[0], ["H5"]))["ok"]
        await picker.expect_look("H5", "held")
        # Where a buyer taps it: scrolled above the phone's bar, which lies over
        # the hall's last rows as the page opens.
        await picker.seat("H6").scroll_into_view_if_needed()
        before = await box(picker.seat("H6"))

        await picker.seat("H5").click(force=True)
        await expect(picker.notice).to_be_visible()
        await expect(picker.notice).to_contain_text("Row H, seat 5 is held by someone else")
        assert await box(picker.seat("H6")) == before
        # Said to screen readers too.
        await expect(page.locator("#announcer")).to_contain_text(
            "Row H, seat 5 is held by someone else")

        await picker.seat("H6").click()
        await picker.expect_look("H6", "mine")
        await expect(picker.notice).to_be_hidden()
        assert await box(picker.seat("H6")) == before


async def test_a_seat_someone_else_holds_says_so_on_a_phone_tap(
        browsing: Browsing, start_server: ServerFactory, showtimes: list[int]) -> None:
    server = start_server(SEATSERVER_HOLD_TTL="240")
    picker = await phone_picker(browsing, server, showtimes[0])
    async with someone_else(server.url, showtimes[0]) as other:
        assert (await other.hold(showtimes[0], ["F7"]))["ok"]
        await picker.expect_look("F7", "held")

        await picker.seat("F7").tap(force=True)

        await expect(picker.notice).to_contain_text(
            re.compile(r"Row F, seat 7 is held by someone else; it frees in [34]:\d\d"))
        notice = await box(picker.notice)
        assert notice["y"] >= 0 and notice["y"] + notice["height"] <= 844
        assert await picker.look("F7") == "held"


async def test_the_expiry_message_names_every_seat_that_expired_in_order(
        browsing: Browsing, start_server: ServerFactory, showtimes: list[int]) -> None:
    server = start_server(SEATSERVER_HOLD_TTL="3")
    picker = await browsing.picker(server.url, showtimes[0], **LAPTOP)

    await picker.hold("F11")
    await asyncio.sleep(1.2)  # so the two holds end in separate updates
    await picker.hold("F8")

    await picker.expect_look("F11", "available", within_ms=8_000)
    await picker.expect_look("F8", "available", within_ms=8_000)
    await expect(picker.notice).to_contain_text(
        "Your hold on Row F, seats 8 and 11 expired, so they are free again.")


async def test_seats_you_bought_show_as_yours_not_as_sold(shop: Shop) -> None:
    server = shop.server()
    alice = await shop.browsing.picker(server.url, shop.showtime, **LAPTOP)
    bob = await shop.browsing.picker(server.url, shop.showtime, **LAPTOP)
    await alice.hold("E7")
    await alice.give_email()
    await alice.checkout.click()
    page = alice.page
    await page.wait_for_url(re.compile(r"/pay/sim_\w+$"))
    await page.get_by_role("button", name=re.compile("^Pay")).click()
    await page.wait_for_url(re.compile(r"/bookings/"))

    await page.goto(f"{server.url}/showtimes/{shop.showtime}")
    back = Picker(page)
    await back.wait_live()
    await back.expect_look("E7", "bought")
    await expect(back.seat("E7")).to_have_accessible_name(
        "Row E, seat 7, Gold, €12.50, booked by you")
    await expect(page.get_by_role("region", name="Legend")).to_contain_text("Booked by you")
    await expect(page.locator("#counts")).to_contain_text("1 booked by you")
    await bob.expect_look("E7", "booked")  # someone else's sale to everyone else


# Summary, time left and Checkout in one or two lines: the bar held the contact
# fields too before (about 290 px of 844), now they live in the basket.
BAR_AT_MOST = 160


async def test_on_a_phone_the_bar_is_small_and_the_contact_fields_live_in_the_basket(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    picker = await phone_picker(browsing, server, showtimes[0])
    page = picker.page
    await picker.seat("G9").tap()
    await picker.expect_look("G9", "mine")
    await picker.seat("G10").tap()
    await picker.expect_look("G10", "mine")

    bar = page.locator("#basket-bar")
    await expect(bar).to_contain_text("€25.00")
    await expect(bar).to_contain_text(re.compile(r"\d:\d\d left"))
    await expect(checkout_button(page)).to_be_enabled()
    found = await box(bar)
    assert found["height"] <= BAR_AT_MOST, found
    total = bar.get_by_text("€25.00", exact=True)
    left = bar.get_by_text(re.compile(r"\d:\d\d left"))
    for part in (total, left, checkout_button(page)):
        shown = await box(part)
        assert shown["y"] >= found["y"] and shown["y"] + shown["height"] <= 844, (part, shown)

    contact = page.get_by_role("group", name="Where we send your ticket")
    await expect(contact).to_be_visible()
    await expect(bar.get_by_role("group", name="Where we send your ticket")).to_have_count(0)
    await expect(page.locator("#basket").get_by_role(
        "group", name="Where we send your ticket")).to_have_count(1)
    assert await contact.evaluate(
        "el => [...function* up(e) { for (; e; e = e.parentElement) yield e; }(el)]"
        ".every(e => getComputedStyle(e).position !== 'fixed')")


async def test_on_a_phone_checkout_without_an_email_shows_the_field_above_the_bar(
        shop: Shop) -> None:
    server = shop.server()
    picker = await phone_picker(shop.browsing, server, shop.showtime)
    page = picker.page
    await picker.seat("G9").tap()
    await picker.expect_look("G9", "mine")
    await picker.seat("G10").tap()
    await picker.expect_look("G10", "mine")
    bar = page.locator("#basket-bar")
    await expect(bar).to_contain_text("€25.00")
    email = page.get_by_role("group", name="Where we send your ticket").get_by_label("E-mail")

    # The field scrolled to lie under the bar, where a focus that only asks
    # "is it in the viewport?" would leave it.
    top = (await box(bar))["y"]
    field = await box(email)
    await page.evaluate(f"window.scrollBy(0, {field['y'] - top - 5})")
    field = await box(email)
    assert top < field["y"] < 844, (top, field)

    await checkout_button(page).tap()

    await expect(email).to_be_focused()
    await expect(email).to_have_attribute("aria-invalid", "true")
    await expect(email).to_have_accessible_description(re.compile("Enter your e-mail address"))
    await expect(page.locator("#announcer")).to_contain_text(
        "Enter where we send your ticket first.")
    field, top = await box(email), (await box(bar))["y"]
    assert field["y"] >= 0 and field["y"] + field["height"] <= top, (field, top)
    said = await box(page.get_by_text("Enter your e-mail address: we send your ticket there."))
    assert said["y"] + said["height"] <= top, (said, top)  # its message too
    assert page.url.endswith(f"/showtimes/{shop.showtime}")

    await email.fill("guest@example.com")
    await checkout_button(page).tap()
    await page.wait_for_url(re.compile(r"/pay/sim_\w+$"))


async def test_on_a_phone_an_account_holder_is_told_where_the_ticket_goes_above_the_bar(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    page = await browsing.page(f"{server.url}/account", width=390, height=844, phone=True)
    email = f"phone-{secrets.token_hex(4)}@example.com"
    await page.locator("#register-email").fill(email)
    await page.locator("#register-password").fill("correct horse battery")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.locator("#who")).to_have_text(f"Logged in as {email}")
    await page.goto(f"{server.url}/showtimes/{showtimes[0]}")
    picker = Picker(page)
    await picker.wait_live()
    await picker.seat("G9").tap()
    await picker.expect_look("G9", "mine")

    bar = page.locator("#basket-bar")
    goes_to = page.locator("#basket").get_by_text(f"Your ticket goes to {email}.")
    await expect(goes_to).to_be_visible()
    await expect(bar.get_by_text("Your ticket goes to")).to_have_count(0)
    await expect(page.get_by_role("group", name="Where we send your ticket")).to_be_hidden()
    assert (await box(bar))["height"] <= BAR_AT_MOST
    await page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    assert (await box(goes_to))["y"] + (await box(goes_to))["height"] <= (await box(bar))["y"]
