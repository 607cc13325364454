"""A guest's ticket reaches them: checkout asks for the e-mail address, the
confirmation says what, where and when, and its link opens the ticket on
another device with no session at all."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.e2e.browsing import Picker, Shop

BOOKING_PAGE = re.compile(r"/bookings/[A-Za-z0-9]+$")
TICKET_LINK = re.compile(r"^http://[^/]+/tickets/[A-Z0-9]{10}\.[0-9a-f]{32}$")


async def buy_as_guest(shop: Shop, seats: list[str]) -> tuple[Picker, Page]:
    """Hold ``seats`` as a new guest on a laptop, give the address, pay."""
    server = shop.server()
    picker = await shop.browsing.picker(server.url, shop.showtime, width=1366, height=768)
    for seat in seats:
        await picker.hold(seat)
    await picker.give_email("ana@example.com")
    await picker.checkout.click()
    page = picker.page
    await page.wait_for_url(re.compile(r"/pay/sim_\w+$"))
    await page.get_by_role("button", name=re.compile("^Pay")).click()
    await page.wait_for_url(BOOKING_PAGE)
    return picker, page


async def test_guest_checkout_asks_for_the_email_and_refuses_a_bad_one(shop: Shop) -> None:
    server = shop.server()
    picker = await shop.browsing.picker(server.url, shop.showtime, width=390, height=844,
                                        phone=True)
    await picker.hold("E7")
    contact = picker.page.get_by_role("group", name="Where we send your ticket")
    email = contact.get_by_label("E-mail")
    await expect(email).to_be_visible()

    await picker.checkout.click()  # nothing typed
    await expect(email).to_be_focused()
    await expect(email).to_have_attribute("aria-invalid", "true")
    await expect(contact).to_contain_text("Enter your e-mail address: we send your ticket there.")
    await email.fill("ana@example")
    await picker.checkout.click()
    await expect(contact).to_contain_text('"ana@example" does not look like an e-mail address')
    await expect(picker.page).to_have_url(re.compile(rf"/showtimes/{shop.showtime}$"))
    await contact.get_by_label("Phone").fill("call me")
    await email.fill("ana@example.com")
    await picker.checkout.click()
    await expect(contact).to_contain_text("Enter the phone number with digits only")

    await contact.get_by_label("Phone").fill("+49 30 1234567")
    await picker.checkout.click()
    await picker.page.wait_for_url(re.compile(r"/pay/sim_\w+$"))


async def test_confirmation_names_the_show_and_its_link_opens_the_ticket_on_a_phone(
        shop: Shop) -> None:
    _, page = await buy_as_guest(shop, ["E10", "E8", "E9"])
    await expect(page.get_by_role("heading", level=1)).to_have_text("You're booked")
    show = page.locator("section.show")
    await expect(show.get_by_role("heading", level=2)).to_have_text("Northern Lights")
    # 20:00 as the theater's clocks show it, in its zone (Berlin), not UTC.
    await expect(show.locator("time")).to_have_text(re.compile(r"20:00 CES?T$"))
    await expect(show).to_contain_text("Saal")
    seats = page.get_by_role("table", name="Seats")
    await expect(seats.locator("tbody tr td:first-child")).to_have_text(
        ["Row E, seat 8", "Row E, seat 9", "Row E, seat 10"])
    await expect(seats.locator("tfoot")).to_contain_text("€37.50")
    keep = page.get_by_role("region", name="Your ticket on any device")
    await expect(keep).to_contain_text("We sent it to ana@example.com")
    link = await keep.locator(".link a").get_attribute("href")
    assert link is not None and TICKET_LINK.match(link), link
    await expect(keep.get_by_role("link", name="Add to calendar (.ics)")).to_be_visible()

    # Another device: a phone with no cookies, nothing but the link.
    phone = await shop.browsing.page(link, width=390, height=844, phone=True)
    assert await phone.context.cookies() == []
    await expect(phone.get_by_role("heading", level=1)).to_have_text("You're booked")
    await expect(phone.get_by_role("img", name="QR code of your ticket")).to_be_visible()
    await expect(phone.get_by_role("heading", level=2, name="Northern Lights")).to_be_visible()
    await expect(phone.get_by_role("table", name="Seats").locator("tbody tr td:first-child")
                 ).to_have_text(["Row E, seat 8", "Row E, seat 9", "Row E, seat 10"])
    async with phone.expect_download() as download:
        await phone.get_by_role("link", name="Add to calendar (.ics)").click()
    ics = await (await download.value).path()
    text = ics.read_bytes().decode()
    assert "SUMMARY:Northern Lights\r\n" in text and link.split("/")[-1] in text.replace(
        "\r\n ", "")


async def test_guest_account_lists_the_booking_with_film_date_and_ticket(shop: Shop) -> None:
    _, page = await buy_as_guest(shop, ["F9", "F10"])
    await page.goto(page.url.split("/bookings/")[0] + "/account")
    orders = page.get_by_role("region", name="Your bookings")
    await expect(orders).to_be_visible()
    coming = orders.get_by_role("list", name="Coming up")
    item = coming.get_by_role("listitem").first
    await expect(item.get_by_role("heading", level=4)).to_have_text("Northern Lights")
    # The zone as the receipt and the e-mail name it, not the browser's "GMT+1".
    await expect(item.locator("time")).to_have_text(re.compile(r"20:00 CES?T$"))
    await expect(item).to_contain_text("Row F, seats 9 and 10")
    await expect(item).to_contain_text("€25.00")
    await expect(item).to_contain_text("booked")
    ticket = item.get_by_role("link", name=re.compile(r"^Ticket [A-Z0-9]{10}$"))
    await expect(ticket).to_have_attribute("href", TICKET_LINK)
    await ticket.click()
    await expect(page.get_by_role("img", name="QR code of your ticket")).to_be_visible()
