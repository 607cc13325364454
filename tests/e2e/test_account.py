"""The account page in Chromium: a guest holds seats, signs up or logs in, comes
back to the picker and the seats are still theirs to book."""

from __future__ import annotations

import re
import secrets

import aiohttp
from playwright.async_api import Page, Route, expect

from tests.e2e.browsing import Browsing, Picker, Shop
from tests.e2e.server import Server

PASSWORD = "correct horse battery"
BOOKING_PAGE = re.compile(r"/bookings/[A-Za-z0-9]+$")


def new_email() -> str:
    return f"buyer-{secrets.token_hex(5)}@example.com"


async def to_account_page(picker: Picker) -> Page:
    page = picker.page
    await page.get_by_role("link", name="Your account").click()
    await page.wait_for_url(re.compile(r"/account\?next=%2Fshowtimes%2F\d+$"))
    await expect(page.locator("#who")).to_have_text("You are browsing as a guest.")
    return page


async def back_to_the_seats(page: Page) -> Picker:
    await page.locator("#notice").get_by_role("link", name="Back to your seats").click()
    picker = Picker(page)
    await picker.wait_live()
    return picker


async def pay(picker: Picker, label: str) -> Page:
    await expect(picker.checkout).to_have_text(label)
    await picker.checkout.click()
    page = picker.page
    await page.wait_for_url(re.compile(r"/pay/sim_\w+$"))
    await page.get_by_role("button", name=re.compile("^Pay")).click()
    await page.wait_for_url(BOOKING_PAGE)
    await expect(page.get_by_role("heading", level=1)).to_have_text("You're booked")
    return page


async def test_seats_held_as_a_guest_stay_yours_after_signing_up_and_can_be_booked(
        shop: Shop) -> None:
    server = shop.server()
    picker = await shop.browsing.picker(server.url, shop.showtime)
    await picker.hold("E7")
    await picker.hold("E8")
    email = new_email()

    page = await to_account_page(picker)
    await page.locator("#register-email").fill(email)
    await page.locator("#register-password").fill(PASSWORD)
    await page.locator("#register-name").fill("Alice")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.locator("#who")).to_have_text(f"Logged in as {email}")
    await expect(page.locator("#notice")).to_contain_text(f"We sent a link to {email}")

    back = await back_to_the_seats(page)
    await back.expect_look("E7", "mine")
    await back.expect_look("E8", "mine")
    await expect(back.basket).to_contain_text("Row E, seat 7")
    page = await pay(back, "Checkout: 2 seats, €25.00")

    await page.goto(f"{server.url}/account")
    await expect(page.locator("#orders .order")).to_have_count(1)
    await expect(page.locator("#orders")).to_contain_text("Row E, seats 7 and 8 · €25.00 · booked")
    await expect(page.locator("#profile-name")).to_have_value("Alice")


async def test_seats_held_as_a_guest_stay_yours_after_logging_in(shop: Shop) -> None:
    server = shop.server()
    email = new_email()
    async with aiohttp.ClientSession() as http, http.post(
            f"{server.url}/api/auth/register",
            json={"email": email, "password": PASSWORD, "bearer": True}) as resp:
        assert resp.status == 201, await resp.text()
    picker = await shop.browsing.picker(server.url, shop.showtime)
    await picker.hold("F4")

    page = await to_account_page(picker)
    await page.locator("#login-email").fill(email)
    await page.locator("#login-password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.locator("#notice")).to_contain_text(
        "Logged in. Your 1 held seat came with you.")

    back = await back_to_the_seats(page)
    await back.expect_look("F4", "mine")
    await pay(back, "Checkout: 1 seat, €12.50")


async def test_a_wrong_password_is_said_in_words_and_logging_out_makes_a_guest_again(
        shop: Shop) -> None:
    server = shop.server()
    email = new_email()
    page = await shop.browsing.page(f"{server.url}/account")
    await expect(page.locator("#who")).to_have_text("You are not logged in.")
    await page.locator("#register-email").fill(email)
    await page.locator("#register-password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.locator("#who")).to_have_text(f"Logged in as {email}")

    await page.get_by_role("button", name="Log out").click()
    await expect(page.locator("#who")).to_have_text("You are not logged in.")
    await page.locator("#login-email").fill(email)
    await page.locator("#login-password").fill("not my password")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.locator("#login .form-error")).to_have_text(
        "That e-mail address and password do not match an account.")

    # The picker makes itself a new guest session, as on a first visit.
    await page.goto(f"{server.url}/showtimes/{shop.showtime}")
    picker = Picker(page)
    await picker.wait_live()
    await picker.hold("G2")


async def test_changing_the_email_asks_for_the_current_password(
        browsing: Browsing, server: Server) -> None:
    email, other, taken = new_email(), new_email(), new_email()
    async with aiohttp.ClientSession() as http, http.post(
            f"{server.url}/api/auth/register",
            json={"email": taken, "password": PASSWORD, "bearer": True}) as resp:
        assert resp.status == 201, await resp.text()
    page = await browsing.page(f"{server.url}/account")
    await page.locator("#register-email").fill(email)
    await page.locator("#register-password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.locator("#who")).to_have_text(f"Logged in as {email}")
    password = page.get_by_label("Current password")
    await expect(password).to_be_hidden()

    await page.locator("#profile-email").fill(other)
    await expect(password).to_be_visible()
    await password.fill("not my password")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#profile .form-error")).to_have_text(
        "That is not your current password, so the e-mail address was not changed.")

    await password.fill(PASSWORD)
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#notice")).to_contain_text(
        f"Open the link we sent to {other} to make it your address.")
    await expect(password).to_be_hidden()

    # Another account's address: the page says exactly the same.
    await page.locator("#profile-email").fill(taken)
    await password.fill(PASSWORD)
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#notice")).to_contain_text(
        f"Open the link we sent to {taken} to make it your address.")


OFF_SITE_NEXT = ["/%5Cevil.example/", "/%09/evil.example/", "/%5C%5Cevil.example",
                 "/%0A/evil.example/", "//evil.example/", "/.//evil.example/"]


async def test_back_link_never_leaves_the_site(browsing: Browsing, server: Server) -> None:
    page = await browsing.blank()
    for next_path in OFF_SITE_NEXT:
        await page.goto(f"{server.url}/account?next={next_path}")
        await expect(page.locator("#who")).to_have_text("You are not logged in.")
        back = await page.locator("#back").evaluate("a => a.href")
        assert back.startswith(server.url + "/"), (next_path, back)


async def test_the_page_itself_refuses_an_off_site_back_link(
        browsing: Browsing, server: Server) -> None:
    """The page's own check, without the server's redirect in front of it: the
    browser is handed the page for any /account address, as a cache or an
    older server might."""
    page = await browsing.blank()

    async def plain_page(route: Route) -> None:
        await route.fulfill(response=await route.fetch(url=f"{server.url}/account"))

    await page.route(re.compile(r".*/account\?.*"), plain_page)
    for next_path in OFF_SITE_NEXT:
        await page.goto(f"{server.url}/account?next={next_path}")
        assert "evil.example" in page.url  # the hostile address is in the bar
        await expect(page.locator("#who")).to_have_text("You are not logged in.")
        back = await page.locator("#back").evaluate("a => a.href")
        assert back == server.url + "/", (next_path, back)
    await page.goto(f"{server.url}/account?next=%2Fshowtimes%2F7")
    await expect(page.locator("#back")).to_have_attribute("href", "/showtimes/7")
