"""axe-core scans of every page, in the states people see them in."""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, expect

from seatserver.db import create_pool
from tests.e2e.browsing import Browsing, Gate, Shop, someone_else
from tests.e2e.server import Server, ServerFactory

# WCAG 2.0-2.2 A and AA, plus axe's best practices. Every node of every
# violation, and one node of each pass and the like: these options replace the
# library's default that says so, and without it a scan of the picker sent back
# every passing node of its 212 seats (2 MB, 2.5 s of a scan's 3).
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": [
    "wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]},
    "resultTypes": ["violations"]}
BLOCKING = ("serious", "critical")


# axe-core itself (572 KB), put into a page once: tests scan one page in several
# states and at several widths, and sending and compiling the script afresh for
# each scan cost more than most scans. A page that navigates loses it, and the
# next scan puts it in again.
AXE_SCRIPT = Axe().axe_script


async def serious_findings(page: Page) -> list[str]:
    if not await page.evaluate("() => typeof window.axe?.run === 'function'"):
        await page.evaluate(AXE_SCRIPT)
    response = await page.evaluate("options => axe.run(document, options)", AXE_OPTIONS)
    violations: list[dict[str, Any]] = response["violations"]
    return [f"{v['id']} ({v['impact']}): {v['help']} at "
            f"{', '.join(str(n['target']) for n in v['nodes'][:5])}"
            for v in violations if v["impact"] in BLOCKING]


async def resize(page: Page, width: int, height: int) -> None:
    """``page`` at ``width`` x ``height``, laid out as a page loaded at that size.

    Tests scan one page at each width in turn rather than set up a server, a
    log-in and a page per width: Chromium's CPU is most of these tests' and
    the suite's. Media queries apply at once; resize observers (the picker's
    map sizes its seats in one) run in the next frame, so two frames on
    the page is done laying itself out.
    """
    await page.set_viewport_size({"width": width, "height": height})
    await page.evaluate("() => new Promise(done => requestAnimationFrame("
                        "() => requestAnimationFrame(done)))")


PICKER_SIZES = [(360, 1080), (390, 844), (1366, 768), (1920, 1080)]


async def test_picker_has_no_serious_accessibility_findings(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    async with someone_else(server.url, showtimes[0]) as other:
        assert (await other.hold(showtimes[0], ["F5", "F6"]))["ok"]
        width, height = PICKER_SIZES[0]
        picker = await browsing.picker(server.url, showtimes[0], width=width, height=height)
        await picker.hold("E7")
        await picker.expect_look("F5", "held")
        for width, height in PICKER_SIZES:
            await resize(picker.page, width, height)
            # Again at each size: the tooltip is placed by its seat when shown.
            await picker.seat("F5").click(force=True)  # aria-disabled, but clickable: says why
            await picker.seat("E7").focus()

            assert await serious_findings(picker.page) == [], f"at {width}x{height}"


async def test_zoomed_phone_picker_with_its_bar_has_no_serious_accessibility_findings(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    picker = await browsing.picker(server.url, showtimes[0], width=390, height=844,
                                   phone=True)
    # The bar before the first seat: "No seats yet" and a disabled Checkout.
    await expect(picker.page.locator("#basket-bar").get_by_text("No seats yet")).to_be_visible()
    assert await serious_findings(picker.page) == [], "with no seats held"

    await picker.seat("G9").tap()
    await picker.expect_look("G9", "mine")
    await picker.page.get_by_role("button", name="Zoom in").click()
    await expect(picker.page.locator("#scroll-hint")).to_be_visible()
    await expect(picker.page.locator("#basket-bar")).to_contain_text("left")
    await picker.seat("G9").hover()  # its tooltip

    assert await serious_findings(picker.page) == []


async def test_picker_refusal_message_has_no_serious_accessibility_findings(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    picker = await browsing.picker(server.url, showtimes[0])
    async with someone_else(server.url, showtimes[0]) as other:
        assert (await other.hold(showtimes[0], list(f"G{n}" for n in range(1, 11))))["ok"]
    # Ten is the most one person may hold: the eleventh is refused.
    for n in range(1, 11):
        await picker.hold(f"H{n}")
    await picker.seat("H11").click()
    await expect(picker.notice).to_contain_text("at most 10 seats")

    assert await serious_findings(picker.page) == []


async def test_kiosk_has_no_serious_accessibility_findings(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    """Both kiosk views on one server: a server per view cost more than the scan."""
    async with someone_else(server.url, showtimes[0]) as other:
        assert (await other.hold(showtimes[0], ["K1", "K2"]))["ok"]
        for query in ("", f"?showtime={showtimes[0]}"):
            kiosk = await browsing.kiosk(server.url, query)
            await expect(kiosk.locator(".type-waiting")).to_have_count(0)

            assert await serious_findings(kiosk) == [], f"kiosk{query}"


async def test_showtime_list_has_no_serious_accessibility_findings(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    page = await browsing.page(server.url + "/", width=390, height=844)
    await expect(page.get_by_role("link", name="Northern Lights").first).to_be_visible()
    await page.get_by_label("Film").select_option(label="Northern Lights")
    await expect(page.get_by_role("status")).to_contain_text("shown")

    for width in (390, 1366):
        await resize(page, width, 844)
        assert await serious_findings(page) == [], f"at width {width}"


async def test_film_page_has_no_serious_accessibility_findings(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    page = await browsing.page(server.url + "/")
    await page.get_by_role("link", name="Northern Lights").first.click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Northern Lights")
    await expect(page.locator("#review-rating")).not_to_have_text("Loading reviews…")

    assert await serious_findings(page) == []


async def test_error_pages_have_no_serious_accessibility_findings(
        browsing: Browsing, server: Server) -> None:
    """Every error page on one server: a server per page cost more than the scan."""
    for path in ("/no/such/page", "/showtimes/987654321", "/showtimes/1%00"):
        page = await browsing.page(server.url + path, width=390, height=844)
        await expect(page.get_by_role("link", name="All showtimes")).to_be_visible()

        assert await serious_findings(page) == [], path


async def test_a_showtime_that_is_over_has_no_serious_accessibility_findings(
        shop: Shop) -> None:
    """The picker's 410 page: the error pages' template, with its film's link."""
    pool = await create_pool(shop.database_url, 1)
    try:
        past = await pool.fetchval(
            "INSERT INTO showtimes (movie_id, screen_id, starts_at, currency) "
            "SELECT movie_id, screen_id, now() - interval '3 days', currency FROM showtimes "
            "WHERE id = $1 RETURNING id", shop.showtime)
    finally:
        await pool.close()
    page = await shop.browsing.page(f"{shop.server().url}/showtimes/{past}", width=390,
                                    height=844)
    await expect(page.get_by_role("heading", level=1)).to_have_text("This showtime is over")
    await expect(page.get_by_role("link", name=re.compile("reviews and showtimes"))).to_be_visible()

    assert await serious_findings(page) == []


async def test_picker_checkout_refusal_has_no_serious_accessibility_findings(
        browsing: Browsing, start_server: ServerFactory, showtimes: list[int]) -> None:
    server = start_server(SEATSERVER_HOLD_TTL="3")
    gate = Gate()
    picker = await browsing.picker(server.url, showtimes[0], gate=gate)
    await picker.hold("E3")
    gate.close()  # the page misses the expiry, so its Checkout is refused
    await asyncio.sleep(4)
    await picker.give_email()
    await picker.checkout.click()
    await expect(picker.checkout_error).to_contain_text("Row E, seat 3")
    await picker.checkout.focus()

    assert await serious_findings(picker.page) == []


async def test_picker_back_from_payment_has_no_serious_accessibility_findings(
        shop: Shop) -> None:
    server = shop.server()
    picker = await shop.browsing.picker(server.url, shop.showtime)
    await picker.hold("E5")
    await picker.give_email()
    await picker.checkout.click()
    await picker.page.wait_for_url(re.compile(r"/pay/"))
    await picker.page.go_back()
    await picker.wait_live()
    await expect(picker.notice.get_by_role("link", name="Continue to payment")).to_be_visible()

    assert await serious_findings(picker.page) == []


async def test_receipt_has_no_serious_accessibility_findings(shop: Shop) -> None:
    server = shop.server()
    picker = await shop.browsing.picker(server.url, shop.showtime, width=360)
    await picker.hold("E6")
    await picker.hold("E7")
    await picker.give_email()
    await picker.checkout.click()
    await picker.page.wait_for_url(re.compile(r"/pay/"))
    await picker.page.get_by_role("button", name=re.compile("^Pay")).click()
    await picker.page.wait_for_url(re.compile(r"/bookings/\w+$"))
    await expect(picker.page.locator("figure.ticket svg")).to_be_visible()
    await expect(picker.page.get_by_role("button", name="Print")).to_be_visible()

    for width in (360, 1280):
        await resize(picker.page, width, 900)
        assert await serious_findings(picker.page) == [], f"at width {width}"


async def test_account_page_has_no_serious_accessibility_findings(
        browsing: Browsing, server: Server) -> None:
    page = await browsing.page(f"{server.url}/account", width=360)
    await expect(page.locator("#who")).to_have_text("You are not logged in.")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.locator("#login .form-error")).to_be_visible()
    for width in (360, 1280):
        await resize(page, width, 900)
        assert await serious_findings(page) == [], f"logged out, at width {width}"

    await page.locator("#register-email").fill("a11y@example.com")
    await page.locator("#register-password").fill("correct horse battery")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.locator("#who")).to_contain_text("Logged in as")

    for width in (1280, 360):  # from the width it is at
        await resize(page, width, 900)
        assert await serious_findings(page) == [], f"logged in, at width {width}"


async def test_ticket_link_and_guest_history_have_no_serious_accessibility_findings(
        shop: Shop) -> None:
    server = shop.server()
    picker = await shop.browsing.picker(server.url, shop.showtime, width=390, height=844,
                                        phone=True)
    await picker.hold("E6")
    await picker.checkout.click()  # no address yet: the field says so
    contact = picker.page.get_by_role("group", name="Where we send your ticket")
    await expect(contact.get_by_label("E-mail")).to_have_attribute("aria-invalid", "true")
    assert await serious_findings(picker.page) == []

    await picker.give_email()
    await picker.checkout.click()
    await picker.page.wait_for_url(re.compile(r"/pay/"))
    await picker.page.get_by_role("button", name=re.compile("^Pay")).click()
    await picker.page.wait_for_url(re.compile(r"/bookings/\w+$"))
    link = await picker.page.locator(".keep .link a").get_attribute("href")
    assert link is not None
    phone = await shop.browsing.page(link, width=390, height=844, phone=True)
    await expect(phone.get_by_role("img", name="QR code of your ticket")).to_be_visible()
    assert await serious_findings(phone) == []

    await picker.page.goto(f"{server.url}/account")
    await expect(picker.page.get_by_role("list", name="Coming up")).to_be_visible()
    assert await serious_findings(picker.page) == []


async def test_admin_layout_editor_has_no_serious_accessibility_findings(shop: Shop) -> None:
    """The editor open on a screen, with a selection, a companion seat, a
    refusal said and the JSON disclosure open."""
    from tests.e2e.staff import open_section
    from tests.e2e.test_admin import admin_page, venue  # test_admin imports this module

    await venue(shop.database_url)
    server = shop.server()
    page = await admin_page(shop, server.url, width=390)
    await open_section(page, "Screens")
    await page.get_by_role("button", name="Edit screen Blue").click()
    grid = page.get_by_role("grid", name="Seat layout grid")
    await grid.get_by_role("gridcell", name="B1, vip").click()
    await grid.get_by_role("gridcell", name="B2, vip").click(modifiers=["Shift"])
    await page.get_by_role("button", name="Companion seat").click()
    await expect(page.locator("#layout-message")).to_contain_text("not right beside")
    await page.get_by_text("Advanced: the layout as JSON").click()
    for width in (390, 1366):
        await resize(page, width, 900)
        assert await serious_findings(page) == [], f"at width {width}"


async def test_admin_two_factor_forms_have_no_serious_accessibility_findings(
        shop: Shop) -> None:
    # Imported here: test_staff_security imports serious_findings from this module.
    from tests.e2e.staff import enrol_admin
    from tests.e2e.test_staff_security import code_step, password_step, staff

    email = await staff(shop.database_url)
    server = shop.server()
    page = await shop.browsing.page(f"{server.url}/account", width=360)
    await password_step(page, server.url, email)
    await expect(page.locator("#who")).to_contain_text("Logged in as")
    await page.goto(f"{server.url}/admin")
    await expect(page.get_by_role("heading", name="Set up two-factor authentication")
                 ).to_be_visible()
    await page.get_by_role("button", name="Confirm code").click()
    await expect(page.locator("#mfa-form .field-error, #mfa-form .form-error").first
                 ).to_be_visible()
    for width in (360, 1280):
        await resize(page, width, 900)
        assert await serious_findings(page) == [], f"enrolment, at width {width}"

    # The log-in's code step, for an enrolled admin.
    enrolled = await staff(shop.database_url)
    pool = await create_pool(shop.database_url, 1)
    try:
        await enrol_admin(pool, enrolled, secrets.token_bytes(20))
    finally:
        await pool.close()
    other = await shop.browsing.page(f"{server.url}/account", width=360)
    await password_step(other, server.url, enrolled)
    await code_step(other, "12345678")
    await expect(other.get_by_role("alert")).to_be_visible()
    for width in (360, 1280):
        await resize(other, width, 900)
        assert await serious_findings(other) == [], f"code step, at width {width}"
