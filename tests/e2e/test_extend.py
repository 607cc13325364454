"""Timing adjustable (WCAG 2.2.1) and "frees in m:ss", in Chromium against a
real server, found by accessible names: the warning before holds end, Extend
moving the countdown, the limit said in words; when someone else's hold
lapses; the kiosk map's count of seats that may free soon."""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import Locator, Page, expect

from tests.e2e.browsing import Browsing, Gate, someone_else
from tests.e2e.server import ServerFactory


def seconds_left(text: str | None) -> int:
    """"0:58" as 58."""
    assert text and re.fullmatch(r"\d+:\d\d", text), text
    minutes, seconds = text.split(":")
    return int(minutes) * 60 + int(seconds)


def seat_button(page: Page, row: str, number: int) -> Locator:
    return page.get_by_role("button", name=re.compile(rf"^Row {row}, seat {number},"))


async def test_the_warning_comes_with_extend_which_moves_the_countdown_to_the_limit(
        browsing: Browsing, start_server: ServerFactory, showtimes: list[int]) -> None:
    # A 30 s hold is inside the one-minute warning at once; the limit is 60 s.
    server = start_server(SEATSERVER_HOLD_TTL="30")
    picker = await browsing.picker(server.url, showtimes[0])
    page = picker.page
    await seat_button(page, "G", 3).click()
    await picker.expect_look("G3", "mine")

    extend = page.get_by_role("button", name="Extend")
    await expect(extend).to_be_visible()
    await expect(page.locator("#hold-warning")).to_contain_text("less than a minute")
    alerts = page.locator("#alerts")  # the assertive live region
    await expect(alerts).to_contain_text("Use the Extend button")
    said = await alerts.text_content()
    await asyncio.sleep(1.3)
    assert await alerts.text_content() == said  # said once, not every second
    before = seconds_left(await picker.timer.text_content())
    assert before <= 30

    await extend.click()

    await expect(picker.timer).to_have_text(re.compile(r"^0:(5\d|60)$"))
    assert seconds_left(await picker.timer.text_content()) > before + 20
    # Now at the limit: said in words, and no button that cannot help.
    warning = page.locator("#hold-warning")
    await expect(warning).to_contain_text("cannot be held any longer")
    await expect(warning).to_contain_text("time limit")
    await expect(extend).to_be_hidden()
    await expect(alerts).to_contain_text("cannot be held any longer")
    await expect(page.locator("#announcer")).to_contain_text("longest they can be held")


async def test_the_limit_is_said_when_the_extend_ack_comes_after_the_new_deadline(
        browsing: Browsing, start_server: ServerFactory, showtimes: list[int]) -> None:
    # The update with the extended deadline and the extend's ack travel apart:
    # here the ack (which says the deadline is the limit) is held back until
    # the update has moved the countdown.
    server = start_server(SEATSERVER_HOLD_TTL="30")
    late_ack = Gate(only=lambda frame: frame.get("t") == "ack" and "limit_at" in frame)
    picker = await browsing.picker(server.url, showtimes[0], gate=late_ack)
    page = picker.page
    await seat_button(page, "G", 3).click()
    await picker.expect_look("G3", "mine")
    extend = page.get_by_role("button", name="Extend")
    await expect(extend).to_be_visible()
    alerts = page.locator("#alerts")
    await expect(alerts).to_contain_text("Use the Extend button")
    late_ack.close()

    await extend.click()
    await expect(picker.timer).to_have_text(re.compile(r"^0:(5\d|60)$"))  # the update
    assert len(late_ack.waiting) == 1
    late_ack.open()

    await expect(alerts).to_contain_text("cannot be held any longer")
    await expect(extend).to_be_hidden()


async def test_extend_refused_at_the_limit_says_so(
        browsing: Browsing, start_server: ServerFactory, showtimes: list[int]) -> None:
    # The limit is the hold time itself: the first extension is already refused.
    server = start_server(SEATSERVER_HOLD_TTL="30", SEATSERVER_HOLD_MAX="30")
    picker = await browsing.picker(server.url, showtimes[0])
    page = picker.page
    await picker.hold("G4")
    before = seconds_left(await picker.timer.text_content())

    await page.get_by_role("button", name="Extend").click()

    await expect(page.locator("#hold-warning")).to_contain_text("cannot be held any longer")
    await expect(page.get_by_role("button", name="Extend")).to_be_hidden()
    assert seconds_left(await picker.timer.text_content()) <= before


async def test_a_seat_held_by_someone_else_says_when_it_frees(
        browsing: Browsing, start_server: ServerFactory, showtimes: list[int]) -> None:
    server = start_server(SEATSERVER_HOLD_TTL="240")
    picker = await browsing.picker(server.url, showtimes[0])
    page = picker.page
    async with someone_else(server.url, showtimes[0]) as other:
        assert (await other.hold(showtimes[0], ["E5"]))["ok"]
        seat = seat_button(page, "E", 5)
        await expect(seat).to_have_accessible_name(re.compile("held by someone else$"))

        await seat.hover()
        tip = page.get_by_role("tooltip")
        await expect(tip).to_be_visible()
        await expect(tip).to_have_text(re.compile(r"frees in 3:[345]\d unless booked"))

        await seat_button(page, "E", 6).focus()  # a free seat: its tooltip, no "frees in"
        await page.mouse.move(0, 0)
        await expect(tip).to_have_text(re.compile(r"Row E, seat 6 · Gold · €12\.50\s*Available$"))
        await page.keyboard.press("ArrowLeft")  # onto E5, by keyboard
        await expect(seat).to_be_focused()
        await expect(seat).to_have_accessible_description(re.compile(r"frees in 3:[345]\d"))

        # aria-disabled (nothing to do with it), yet pressing it says why.
        await page.keyboard.press("Enter")
        await expect(picker.notice).to_contain_text("Row E, seat 5 is held by someone else")
        await expect(picker.notice).to_contain_text(re.compile(r"it frees in 3:[345]\d"))
        assert await picker.look("E5") == "held"  # nothing was held
        await picker.notice.get_by_role("button", name="Dismiss message").click()
        await seat.click(force=True)  # a pointer, past Playwright's enabled check
        await expect(picker.notice).to_contain_text("Row E, seat 5 is held by someone else")


async def test_the_kiosk_map_counts_seats_that_may_free_in_the_next_5_minutes(
        browsing: Browsing, start_server: ServerFactory, showtimes: list[int]) -> None:
    # Holds of 4:50 lapse within 5 minutes; once extended (to 9:40) they do not.
    server = start_server(SEATSERVER_HOLD_TTL="290")
    kiosk = await browsing.kiosk(server.url, f"?showtime={showtimes[0]}")
    legend = kiosk.get_by_role("list", name="Legend")
    await expect(kiosk.get_by_role("img", name=re.compile("Seat map"))).to_be_visible()
    freeing = legend.get_by_text(re.compile("may free in the next 5 minutes"))
    await expect(freeing).to_be_hidden()

    async with someone_else(server.url, showtimes[0]) as other:
        assert (await other.hold(showtimes[0], ["L1", "L2"]))["ok"]
        await expect(freeing).to_have_text("2 seats may free in the next 5 minutes",
                                           timeout=2_000)
        assert (await other.release(showtimes[0], ["L1"]))["ok"]
        await expect(freeing).to_have_text("1 seat may free in the next 5 minutes",
                                           timeout=2_000)
        assert (await other.request("extend", showtime=showtimes[0]))["ok"]
        await expect(freeing).to_be_hidden(timeout=2_000)
