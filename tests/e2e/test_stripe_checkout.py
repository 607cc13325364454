"""Checkout in Chromium with Stripe as the provider: the buyer pays on the
hosted page of the local Stripe stand-in and lands on the ticket."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestServer
from playwright.async_api import expect

from tests.bookings.stripe_standin import StripeStandIn
from tests.e2e.browsing import Shop

KEY = "sk_test_" + "browser0" * 3
WEBHOOK_SECRET = "whsec_" + "browser1" * 4
BOOKING_PAGE = re.compile(r"/bookings/[A-Za-z0-9]+$")


async def test_a_buyer_pays_on_stripes_hosted_page_and_gets_the_ticket(shop: Shop) -> None:
    standin = StripeStandIn(api_key=KEY, webhook_secret=WEBHOOK_SECRET)
    site = TestServer(standin.app(), host="127.0.0.1")
    await site.start_server()
    standin.origin = str(site.make_url("/")).rstrip("/")
    try:
        server = shop.server(SEATSERVER_PAYMENT_PROVIDER="stripe",
                             SEATSERVER_STRIPE_SECRET_KEY=KEY,
                             SEATSERVER_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
                             SEATSERVER_STRIPE_API_BASE=standin.origin)
        standin.webhook_url = f"{server.url}/api/payments/stripe/webhook"
        alice = await shop.browsing.picker(server.url, shop.showtime)
        await alice.hold("E7")
        await expect(alice.checkout).to_have_text(re.compile(r"^Checkout: 1 seat"))
        await alice.give_email()
        await alice.checkout.click()

        page = alice.page
        await page.wait_for_url(re.compile(r"/c/pay/cs_test_\w+$"))
        await page.get_by_role("button", name=re.compile(r"^Pay \d+ EUR$")).click()
        await page.wait_for_url(BOOKING_PAGE)
        await expect(page.get_by_role("heading", level=1)).to_have_text("You're booked")
        await expect(page.locator("figure.ticket svg")).to_be_visible()
        await standin.settled()
        assert [status for _, status in standin.deliveries] == [200]
    finally:
        await site.close()
