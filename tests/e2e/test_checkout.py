"""Checkout in Chromium: from held seats through the simulated provider's page
to a ticket, or back to the map with a message."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from playwright.async_api import Page, expect

from tests.e2e.browsing import Gate, Picker, Shop

BOOKING_PAGE = re.compile(r"/bookings/[A-Za-z0-9]+$")


async def check_out(picker: Picker, label: str) -> Page:
    """Select Checkout and wait for the provider's page; returns the page."""
    await expect(picker.checkout).to_have_text(label)
    await picker.give_email()
    await picker.checkout.click()
    await picker.page.wait_for_url(re.compile(r"/pay/sim_\w+$"))
    return picker.page


async def test_checkout_pays_shows_the_ticket_and_others_see_the_seats_sold(
        shop: Shop) -> None:
    server = shop.server()
    alice = await shop.browsing.picker(server.url, shop.showtime)
    bob = await shop.browsing.picker(server.url, shop.showtime)
    await expect(alice.checkout).to_be_disabled()
    await alice.hold("E7")
    await alice.hold("E8")

    page = await check_out(alice, "Checkout: 2 seats, €25.00")
    await expect(page.get_by_text("25.00 EUR").first).to_be_visible()
    await page.get_by_role("button", name=re.compile("^Pay")).click()

    await page.wait_for_url(BOOKING_PAGE)
    await expect(page.get_by_role("heading", level=1)).to_have_text("You're booked")
    await expect(page.locator("figure.ticket svg")).to_be_visible()
    await expect(page.locator("figure.ticket")).to_contain_text("Ticket")
    seats = page.get_by_role("table", name="Seats")
    await expect(seats).to_contain_text("Row E, seat 7")
    await expect(seats).to_contain_text("Row E, seat 8")
    await expect(seats.locator("tfoot")).to_contain_text("€25.00")
    await expect(page.locator("section.show").get_by_role("heading", level=2)).to_have_text(
        "Northern Lights")
    await bob.expect_look("E7", "booked")
    await bob.expect_look("E8", "booked")

    # Back on the map, the page says so and offers the ticket again.
    await page.get_by_role("link", name="Back to the seat map").click()
    back = Picker(page)
    await back.wait_live()
    await expect(back.notice).to_contain_text("is paid: Row E, seat 7 and Row E, seat 8")
    await expect(back.notice.get_by_role("link", name="See your ticket")).to_have_attribute(
        "href", BOOKING_PAGE)
    await back.expect_look("E7", "bought")  # hers: "booked by you", not "Sold"
    await expect(back.checkout).to_be_disabled()


# Slow: two full checkouts through the simulated payment page.
@pytest.mark.slow
@pytest.mark.parametrize(("action", "button"), [("decline", "Decline"),
                                                ("timeout", "Let it time out")])
async def test_a_failed_payment_returns_to_the_map_with_the_seats_free_again(
        shop: Shop, action: str, button: str) -> None:
    server = shop.server()
    alice = await shop.browsing.picker(server.url, shop.showtime)
    bob = await shop.browsing.picker(server.url, shop.showtime)
    await alice.hold("F7")
    await alice.hold("F8")

    page = await check_out(alice, "Checkout: 2 seats, €25.00")
    await page.get_by_role("button", name=button).click()

    # Straight back on the map, not on a receipt: it says what happened.
    await page.wait_for_url(re.compile(rf"/showtimes/{shop.showtime}(\?booking=\w+)?$"))
    back = Picker(page)
    await back.wait_live()
    await expect(back.notice).to_have_attribute("data-tone", "error")
    await expect(back.notice).to_contain_text("did not go through")
    await expect(back.notice).to_contain_text("nothing was charged")
    await expect(back.notice).to_contain_text("Row F, seat 7 and Row F, seat 8 were released")
    assert page.url.endswith(f"/showtimes/{shop.showtime}")  # the query is consumed
    await back.expect_look("F7", "available")
    await back.expect_look("F8", "available")
    await bob.expect_look("F7", "available")
    await bob.expect_look("F8", "available")
    await expect(back.basket).to_be_hidden()
    await expect(back.checkout).to_be_disabled()
    # Free for anyone, the buyer included.
    await bob.hold("F7")
    await back.hold("F8")
    # Said once: a reload is a fresh map.
    await page.reload()
    await back.wait_live()
    await expect(back.notice).to_be_hidden()


async def test_back_from_the_payment_page_offers_to_continue_paying(
        shop: Shop) -> None:
    server = shop.server()
    alice = await shop.browsing.picker(server.url, shop.showtime)
    await alice.hold("G4")
    page = await check_out(alice, "Checkout: 1 seat, €12.50")

    await page.go_back()
    back = Picker(page)
    await back.wait_live()
    await expect(back.notice).to_contain_text("waiting for your payment")
    await back.expect_look("G4", "mine")
    await back.notice.get_by_role("link", name="Continue to payment").click()
    await page.wait_for_url(re.compile(r"/pay/sim_\w+$"))


# Slow: waits for a hold to expire.
@pytest.mark.slow
async def test_checkout_after_the_hold_expired_is_refused_with_the_seats_named(
        shop: Shop) -> None:
    server = shop.server(SEATSERVER_HOLD_TTL="3")
    gate = Gate()
    picker = await shop.browsing.picker(server.url, shop.showtime, gate=gate)
    await picker.hold("H3")
    await picker.hold("H4")

    # The page does not hear of the expiry, so it still offers to check out.
    gate.close()
    await asyncio.sleep(4.5)
    await picker.give_email()
    await picker.checkout.click()

    await expect(picker.checkout_error).to_contain_text(
        "Your hold on Row H, seat 3 and Row H, seat 4 has expired")
    assert "/showtimes/" in picker.page.url
    await expect(picker.checkout).to_be_enabled()
    gate.open()
    await picker.expect_look("H3", "available")
    await picker.expect_look("H4", "available")
    await expect(picker.basket).to_be_hidden()
    await expect(picker.checkout).to_be_disabled()


async def test_picker_says_when_sales_close_and_stops_selling_after(shop: Shop) -> None:
    server = shop.server()
    async with aiohttp.ClientSession() as http, http.get(
            f"{server.url}/api/showtimes/{shop.showtime}") as resp:
        show = await resp.json()
    closes = datetime.fromisoformat(show["sales_close_at"]).astimezone(
        ZoneInfo(show["theater"]["time_zone"]))
    picker = await shop.browsing.picker(server.url, shop.showtime)
    await expect(picker.page.locator(".checkout-note")).to_contain_text(
        f"Sales close at {closes:%H:%M}, 10 minutes before the start.")

    # Sales that closed (here: they close 100 days before the start) say so.
    closed = shop.server(SEATSERVER_SALES_CLOSE_MIN=str(100 * 24 * 60))
    late = await shop.browsing.picker(closed.url, shop.showtime)
    await expect(late.checkout).to_have_text("Sales have closed")
    await expect(late.checkout).to_be_disabled()
    await expect(late.page.locator(".checkout-note")).to_contain_text(
        "Sales for this showtime closed at")
