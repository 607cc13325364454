"""The lobby kiosk in Chromium: live counts, the big map, staleness, deploys."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Route, expect

from tests.e2e.browsing import Browsing, someone_else
from tests.e2e.server import Server, ServerFactory


@pytest.fixture
def database_url(seeded_database_url: str) -> str:
    """A database of each test's own. The board shows the next six showtimes of
    every theater: showtimes other tests of this process made in the session's
    database (tests/catalog, tests/reviews) pushed the demo's off it, and these
    tests failed or passed by the order pytest-xdist gave the files."""
    return seeded_database_url


@pytest.fixture
def showtimes(database_url: str, seeded_template: tuple[str, list[int]]) -> list[int]:
    """The demo showtimes' ids in this test's own database (a copy of the template)."""
    return seeded_template[1]


async def test_kiosk_count_for_a_type_drops_when_a_seat_of_that_type_is_held_elsewhere(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    kiosk = await browsing.kiosk(server.url)
    gold = kiosk.locator(f'.show[data-showtime="{showtimes[0]}"] .type[data-type="gold"]'
                         " .type-free")
    silver = kiosk.locator(f'.show[data-showtime="{showtimes[0]}"] .type[data-type="silver"]'
                           " .type-free")
    await expect(gold).to_have_text("108")
    await expect(silver).to_have_text("68")

    async with someone_else(server.url, showtimes[0]) as other:
        assert (await other.hold(showtimes[0], ["E3", "E4"]))["ok"]  # gold
        await expect(gold).to_have_text("106", timeout=2_000)
        await expect(silver).to_have_text("68")
        assert (await other.release(showtimes[0], ["E3"]))["ok"]
        await expect(gold).to_have_text("107", timeout=2_000)


async def test_kiosk_shows_sold_out_and_few_left(
        browsing: Browsing, start_server: ServerFactory, showtimes: list[int]) -> None:
    server = start_server(SEATSERVER_MAX_SEATS="100")
    kiosk = await browsing.kiosk(server.url)
    row = kiosk.locator(f'.show[data-showtime="{showtimes[0]}"]')
    vip = row.locator('.type[data-type="vip"]')

    async with someone_else(server.url, showtimes[0]) as other:
        vip_seats = [f"{r}{n}" for r in "KL" for n in range(1, 19)]
        assert (await other.hold(showtimes[0], vip_seats[:32]))["ok"]
        await expect(vip).to_have_attribute("data-state", "few", timeout=2_000)
        await expect(vip.locator(".type-free")).to_have_text("4")
        assert (await other.hold(showtimes[0], vip_seats[32:]))["ok"]
        await expect(vip).to_have_attribute("data-state", "sold-out", timeout=2_000)
        await expect(vip.locator(".type-free")).to_have_text("Sold out")


async def test_kiosk_map_shows_one_showtime_live(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    kiosk = await browsing.kiosk(server.url, f"?showtime={showtimes[0]}")
    seat_map = kiosk.get_by_role("img", name=re.compile("Seat map"))
    await expect(seat_map).to_have_attribute("aria-label", "Seat map: 212 of 212 seats free")

    async with someone_else(server.url, showtimes[0]) as other:
        assert (await other.hold(showtimes[0], ["L1"]))["ok"]
        await expect(seat_map).to_have_attribute("aria-label", "Seat map: 211 of 212 seats free",
                                                 timeout=2_000)
        await expect(kiosk.locator('.map-count[data-type="vip"] .type-free')).to_have_text("35")


# Slow: keeps a server down until the board says it is stale, then restarts it.
@pytest.mark.slow
async def test_kiosk_says_when_it_is_stale_and_recovers_by_itself(
        browsing: Browsing, start_server: ServerFactory, showtimes: list[int]) -> None:
    server = start_server()
    # The page's timers on Playwright's clock: the 5 s before "stale" and the
    # reconnects' back-off are moved on, not waited out.
    kiosk = await browsing.kiosk(server.url, clock=True)
    stale = kiosk.locator("#stale")
    await expect(stale).to_be_hidden()

    server.stop()
    await expect(kiosk.locator("#conn")).not_to_have_attribute("data-status", "live")
    await kiosk.clock.fast_forward(3_000)
    await expect(stale).to_be_hidden()  # down for less than STALE_AFTER_MS (5 s)
    await kiosk.clock.fast_forward(3_000)
    await expect(stale).to_be_visible()
    await expect(stale).to_contain_text("may be out of date")
    await asyncio.to_thread(start_server, port=server.port)

    await kiosk.clock.fast_forward(60_000)  # the reconnect attempt due next, at once
    await expect(kiosk.locator("#conn")).to_have_attribute("data-status", "live")
    await expect(stale).to_be_hidden()
    async with someone_else(server.url, showtimes[0]) as other:
        assert (await other.hold(showtimes[0], ["E3"]))["ok"]
        gold = kiosk.locator(f'.show[data-showtime="{showtimes[0]}"] .type[data-type="gold"]'
                             " .type-free")
        await expect(gold).to_have_text("107", timeout=2_000)


async def test_kiosk_reloads_into_a_new_deploy_once_the_board_is_quiet(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    page = await browsing.blank(width=1920, height=1080)
    # The page's timers on Playwright's clock: the board's 10 s of quiet
    # (QUIET_MS) are moved on, not waited out.
    await page.clock.install()

    async def next_deploy(route: Route) -> None:
        await route.fulfill(content_type="application/json",
                            body=json.dumps({"version": "next-deploy"}))

    # The kiosk looks at /version whenever it (re)connects: say a deploy happened.
    await page.route("**/version", next_deploy)
    await page.goto(f"{server.url}/kiosk")
    reloaded = asyncio.Event()
    page.on("load", lambda _: reloaded.set())
    await expect(page.locator("#conn")).to_have_attribute("data-status", "live")
    gold = page.locator(f'.show[data-showtime="{showtimes[0]}"] .type[data-type="gold"]'
                        " .type-free")
    free = int(await gold.inner_text())
    async with someone_else(server.url, showtimes[0]) as other:
        for seat in ("E1", "E2", "E3"):  # busy: no reload while figures change
            assert (await other.hold(showtimes[0], [seat]))["ok"]
            free -= 1
            await expect(gold).to_have_text(str(free))
            await page.clock.fast_forward(6_000)  # past a reload check, not yet quiet
            await asyncio.sleep(0.3)
            assert not reloaded.is_set(), "reloaded while the board was busy"

    await page.clock.fast_forward(5_000)  # 11 s since the last change: quiet
    await asyncio.wait_for(reloaded.wait(), 10)
    await expect(page.locator("#conn")).to_have_attribute("data-status", "live")


async def test_the_kiosk_clock_shows_the_theaters_time_not_the_browsers(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    """Both kiosk views on one server: a server per view cost more than the view."""
    for query in ("", f"?showtime={showtimes[0]}"):
        # A browser in New York; the demo theater is in Berlin.
        context = await browsing.browser.new_context(
            viewport={"width": 1920, "height": 1080}, timezone_id="America/New_York")
        browsing.contexts.append(context)
        page = await context.new_page()
        await page.goto(f"{server.url}/kiosk{query}")
        await expect(page.locator("#conn")).to_have_attribute("data-status", "live")
        await expect(page.locator("#board-title")).not_to_have_text("")

        # Read at once, not awaited into shape: from the start the clock shows
        # the theater's time or nothing (blank until the theater's zone is known),
        # never the browser's; then the theater's.
        berlin = [_berlin_now()]
        shown = await page.locator("#clock").text_content()
        berlin.append(_berlin_now())
        assert shown in [*berlin, ""], f"kiosk{query}"

        await expect(page.locator("#clock")).not_to_have_text("")
        berlin = [_berlin_now()]
        shown = await page.locator("#clock").text_content()
        berlin.append(_berlin_now())
        assert shown in berlin, f"kiosk{query}"


def _berlin_now() -> str:
    return datetime.now(ZoneInfo("Europe/Berlin")).strftime("%H:%M")
