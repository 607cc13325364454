"""The picker explains the server's abuse limits in words (Chromium, real server)."""

from __future__ import annotations

from playwright.async_api import expect

from tests.e2e.browsing import Browsing, Picker
from tests.e2e.server import ServerFactory


async def test_the_picker_explains_the_cap_on_seats_from_one_connection(
        browsing: Browsing, start_server: ServerFactory, showtimes: list[int]) -> None:
    server = start_server(SEATSERVER_MAX_SEATS_PER_ADDRESS="2")
    alice = await browsing.picker(server.url, showtimes[0])
    bob = await browsing.picker(server.url, showtimes[0])  # same address: 127.0.0.1
    await alice.hold("E7")
    await alice.hold("E8")

    await bob.seat("F1").click()

    await expect(bob.notice).to_contain_text("Row F, seat 1 could not be held: at most 2 "
                                             "seats for one showtime may be held from one "
                                             "internet connection")
    await bob.expect_look("F1", "available")


async def test_the_picker_explains_a_refused_guest_session(
        browsing: Browsing, start_server: ServerFactory, showtimes: list[int]) -> None:
    server = start_server(SEATSERVER_GUEST_SESSIONS_PER_MINUTE="1")
    await browsing.picker(server.url, showtimes[0])  # the address's one session

    page = await browsing.page(f"{server.url}/showtimes/{showtimes[0]}")

    await expect(Picker(page).notice).to_contain_text(
        "Too many visitors from your internet connection")
    await expect(Picker(page).notice).to_contain_text("Please reload it in")
