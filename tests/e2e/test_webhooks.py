"""The admin's webhooks section in Chromium: register an endpoint by its
labels, copy the secret shown once, see a delivery to a real receiver in the
log, send it again; and no serious axe findings."""

from __future__ import annotations

from datetime import datetime

from playwright.async_api import expect

from seatserver.accounts.seed import ADMIN_EMAIL, seed_staff
from seatserver.db import create_pool
from seatserver.personal.setup import stored_keys
from tests.e2e.browsing import Shop
from tests.e2e.staff import enrol_admin, open_section
from tests.e2e.test_accessibility import serious_findings
from tests.e2e.test_admin import PASSWORD, admin_page
from tests.support import eventually
from tests.webhooks.conftest import Receiver, free_port


async def test_an_admin_registers_an_endpoint_sees_its_delivery_and_sends_it_again(
        shop: Shop) -> None:
    pool = await create_pool(shop.database_url, 2)
    try:
        await seed_staff(pool, await stored_keys(pool), admin_password=PASSWORD,
                         kiosk_password=None)
        await enrol_admin(pool, ADMIN_EMAIL)
    finally:
        await pool.close()
    receiver = Receiver(free_port())
    await receiver.start()
    try:
        server = shop.server(SEATSERVER_WEBHOOK_ALLOW_LOCAL="1")
        # A browser far from UTC: the log's times are UTC all the same, and say so.
        page = await admin_page(shop, server.url, timezone_id="America/New_York")
        await open_section(page, "Webhooks")
        section = page.get_by_role("region", name="Webhooks")
        form = section.locator("#webhook-form")
        await form.get_by_label("URL (https)").fill("javascript:alert(1)")
        await form.get_by_label("Events").select_option(["seat.held"])
        await form.get_by_role("button", name="Add endpoint").click()
        await expect(form.locator('.field-error[data-for="url"]')).to_contain_text("https://")

        await form.get_by_label("URL (https)").fill(receiver.url)
        await form.get_by_label("Events").select_option(["seat.held"])
        await form.get_by_label("Description").fill("Box office screen")
        await form.get_by_role("button", name="Add endpoint").click()
        secret = form.locator(".form-done code")
        await expect(secret).to_contain_text("whsec_")
        receiver.secret = await secret.inner_text()
        row = section.get_by_role("listitem").filter(has_text=receiver.url)
        await expect(row).to_contain_text("Box office screen")

        picker = await shop.browsing.picker(server.url, shop.showtime)
        await picker.wait_live()
        await picker.hold("A3")
        [message] = await receiver.wait_for(1)
        assert message.body["data"]["seats"] == ["A3"] and receiver.forged == []

        await row.get_by_role("button", name="Deliveries").click()
        log = section.locator("#webhook-deliveries")
        delivered = log.get_by_role("listitem").filter(has_text="seat.held").first
        await expect(delivered).to_contain_text("delivered")
        await expect(delivered).to_contain_text("204")
        endpoints = await (await page.request.get(f"{server.url}/api/admin/webhooks")).json()
        deliveries = await (await page.request.get(
            f"{server.url}/api/admin/webhooks/{endpoints['endpoints'][0]['id']}/deliveries")).json()
        at = datetime.fromisoformat(deliveries["deliveries"][0]["log"][0]["at"])
        assert at.utcoffset() is not None and not at.utcoffset()
        await expect(delivered.get_by_role("listitem")).to_have_text(
            f"{at:%a}, {at:%b} {at.day}, {at:%H:%M:%S} (UTC): 204, "
            f"{deliveries['deliveries'][0]['log'][0]['latency_ms']} ms")
        assert await serious_findings(page) == []

        await delivered.get_by_role("button", name="Send again").click()
        await expect(form.locator(".form-done")).to_contain_text("queued again")
        await eventually(lambda: len(receiver.accepted) == 2)
        assert receiver.accepted[1].id == message.id  # the same webhook-id, for deduplication
    finally:
        await receiver.stop()
