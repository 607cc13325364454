"""The waiting room's pages in Chromium against a real server: the picker's
waiting page (place, estimated wait, progress bar, what happens next), the
map once admitted, the way back to waiting when an admission lapses, the
on-sale time before sales open; the kiosk's "on sale at · N waiting"; the
admin's sale settings form. Admission is driven as an operator would, through
the admin API (a cap of active buyers, raised live).

Sale settings live in the session's shared database: every test puts back
the demo showtimes' defaults (``sale_desk``), so later tests see no waiting
room."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import pytest_asyncio
from playwright.async_api import Page, expect
from redis.asyncio import Redis

from seatserver import redis_keys
from seatserver.http.roles import Role
from tests.admin.conftest import session_of
from tests.e2e.browsing import Browsing, Gate, Line, Shop, someone_else
from tests.e2e.server import Server, ServerFactory
from tests.e2e.staff import open_section
from tests.e2e.test_accessibility import serious_findings
from tests.e2e.test_admin import admin_page, scheduled, venue
from tests.services import Services
from tests.support import eventually

# Positions every second (the default is every 3 s): tests wait less.
FAST_QUEUE = {"SEATSERVER_QUEUE_UPDATE": "1"}
ZONE = ZoneInfo("Europe/Berlin")  # the demo theater's


class SaleDesk:
    """The admin API's sale settings, as an operator uses them; remembers
    what it changed so that ``restore`` puts the defaults back."""

    def __init__(self, http: aiohttp.ClientSession, token: str) -> None:
        self.http = http
        self.token = token
        self.touched: dict[int, str] = {}  # showtime -> base URL of a server

    async def call(self, base_url: str, method: str, showtime: int,
                   body: dict[str, Any] | None = None) -> tuple[int, Any]:
        async with self.http.request(
                method, f"{base_url}/api/admin/showtimes/{showtime}/sale", json=body,
                headers={"Authorization": f"Bearer {self.token}"}) as resp:
            return resp.status, await resp.json()

    async def set(self, server: Server, showtime: int, method: str = "PUT",
                  **body: Any) -> dict[str, Any]:
        self.touched[showtime] = server.url
        status, answer = await self.call(server.url, method, showtime, body)
        assert status == 200, answer
        return dict(answer)

    async def room(self, server: Server, showtime: int, *, cap: int, rate: int = 0,
                   opens: datetime | None = None) -> None:
        """A waiting room paced by ``cap`` active buyers (and ``rate`` per minute)."""
        await self.set(server, showtime, on_sale_at=None if opens is None else opens.isoformat(),
                       waiting_room=True, admission_rate=rate, active_cap=cap,
                       admission_ttl_s=600)


@pytest_asyncio.fixture(loop_scope="session")
async def sale_desk(database_url: str, showtimes: list[int],
                    services: Services) -> AsyncIterator[SaleDesk]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        made = await session_of(pool, Role.ADMIN)
        assert made is not None
        async with aiohttp.ClientSession() as http:
            desk = SaleDesk(http, made[1])
            try:
                yield desk
            finally:
                for showtime, base_url in desk.touched.items():
                    try:
                        await desk.call(base_url, "DELETE", showtime)
                    except aiohttp.ClientError:
                        pass  # the server went first: the database below still has it
        # Whatever the API could not undo (a server stopped early), undone here.
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM showtime_sales WHERE showtime_id = ANY($1)",
                               list(desk.touched))
        # And the rooms' queues and admissions: a buyer of this test still
        # admitted (holding seats keeps an admission) or a stopping server's
        # admitter lease would sit in the next test's room.
        async with Redis.from_url(services.redis_url) as redis:
            for showtime in desk.touched:
                await redis.delete(*redis_keys.queue_keys(showtime))
    finally:
        await pool.close()


def waiting_page(page: Page) -> Any:
    return page.get_by_role("region", name=re.compile("queue|on sale", re.I))


async def lapse_admissions(redis_url: str, showtime: int) -> int:
    """Every live admission of the showtime ends now, as if its time ran out
    unused (an admission lasts at least a minute: too long to wait for)."""
    redis = Redis.from_url(redis_url)
    try:
        key = redis_keys.admissions(showtime)
        holders = await redis.zrange(key, 0, -1)
        if holders:
            await redis.zadd(key, dict.fromkeys(holders, 1), xx=True)
        return len(holders)
    finally:
        await redis.aclose()


async def test_a_buyer_waits_with_place_and_progress_then_holds_once_admitted(
        browsing: Browsing, start_server: ServerFactory, showtimes: list[int],
        sale_desk: SaleDesk) -> None:
    server = start_server(**FAST_QUEUE)
    showtime = showtimes[0]
    await sale_desk.room(server, showtime, cap=1)
    async with someone_else(server.url, showtime) as first:  # takes the one place
        picker = await browsing.picker(server.url, showtime)
        page = picker.page
        waiting = page.locator("#waiting")
        await expect(waiting).to_be_visible()
        await expect(page.locator("#main")).to_be_hidden()  # no usable map meanwhile
        await expect(page.get_by_role("heading", name="You are next in the queue")).to_be_visible()
        await expect(page.locator("#waiting-position")).to_have_text("1")
        await expect(page.locator("#waiting-count")).to_have_text("1")
        bar = page.get_by_role("progressbar", name="Your way to the front of the queue")
        await expect(bar).to_have_attribute("aria-valuenow", "100")
        await expect(bar).to_have_attribute("aria-valuetext", "You are next")
        await expect(waiting).to_contain_text("this page opens the seat map by itself")
        await expect(waiting).to_contain_text("Keep this tab open")
        await expect(waiting).to_contain_text("Opening more tabs or windows does not help")
        await expect(page.locator("#announcer")).to_contain_text("You are next in the queue")
        assert (await first.hold(showtime, ["A1"]))["ok"]

        # The operator lets one more buyer in, live.
        await sale_desk.set(server, showtime, method="PATCH", active_cap=2)

        await expect(page.locator("#main")).to_be_visible()
        await expect(waiting).to_be_hidden()
        await expect(picker.notice).to_contain_text("It is your turn")
        await expect(picker.notice).to_contain_text(re.compile(r"Hold a seat within about 10 "
                                                               r"minutes"))
        await expect(page.locator("#announcer")).to_contain_text("It is your turn")
        await expect(page.locator("#map-heading")).to_be_focused()
        await picker.expect_look("A1", "held")  # the map is live
        await picker.hold("E7")
        await expect(picker.notice).to_be_hidden()


async def test_the_progress_bar_moves_and_only_meaningful_moves_are_said(
        browsing: Browsing, start_server: ServerFactory, showtimes: list[int],
        sale_desk: SaleDesk) -> None:
    server = start_server(**FAST_QUEUE)
    showtime = showtimes[0]
    await sale_desk.room(server, showtime, cap=1)
    async with AsyncExitStack() as others:
        # One admitted, six waiting ahead: this page is 7th. The first is let
        # in by the admitter's next round, not at once: the page joining
        # before that would start 8th and see 7 as a move already.
        first = await others.enter_async_context(someone_else(server.url, showtime))
        await eventually(lambda: first.views[showtime].admitted_until is not None)
        for _ in range(6):
            await others.enter_async_context(someone_else(server.url, showtime))
        picker = await browsing.picker(server.url, showtime)
        page = picker.page
        announcer = page.locator("#announcer")
        await expect(page.locator("#waiting-position")).to_have_text("7")
        bar = page.get_by_role("progressbar")
        await expect(bar).to_have_attribute("aria-valuenow", "0")
        await expect(announcer).to_contain_text("You are number 7 in the queue")

        await sale_desk.set(server, showtime, method="PATCH", active_cap=2)

        await expect(page.locator("#waiting-position")).to_have_text("6")
        await expect(bar).to_have_attribute("aria-valuenow", "17")
        await expect(bar).to_have_attribute(
            "aria-valuetext", "1 of 6 places ahead of you have gone; you are number 6")
        # 7 -> 6 is seen, not said (the next line to cross is 5).
        await expect(announcer).to_contain_text("You are number 7 in the queue")

        await sale_desk.set(server, showtime, method="PATCH", active_cap=3)

        await expect(announcer).to_contain_text("You are number 5 in the queue")
        await expect(bar).to_have_attribute("aria-valuenow", "33")


async def test_before_the_on_sale_time_the_page_says_when(
        browsing: Browsing, start_server: ServerFactory, showtimes: list[int],
        sale_desk: SaleDesk) -> None:
    server = start_server(**FAST_QUEUE)
    showtime = showtimes[0]
    opens = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    await sale_desk.room(server, showtime, cap=100, opens=opens)
    picker = await browsing.picker(server.url, showtime, width=390, height=844, phone=True)
    page = picker.page
    local = opens.astimezone(ZONE)
    # In the theater's time, its day said too when that is not today there
    # (two hours on from 22:00 in Berlin: "Monday, December 7 at 00:05").
    day = ("" if local.date() == datetime.now(ZONE).date()
           else f"{local:%A}, {local:%B} {local.day} at ")
    await expect(page.get_by_role("heading", name="Tickets are not on sale yet")).to_be_visible()
    await expect(page.locator("#waiting-opens")).to_contain_text(
        f"On sale at {day}{local:%H:%M}")
    await expect(page.locator("#waiting-position")).to_have_text("Given when sales open")
    await expect(page.locator("#waiting-eta")).to_have_text(
        re.compile(r"Sales open in about (1 hour 50 minutes|2 hours)"))
    await expect(page.locator("#main")).to_be_hidden()
    await expect(page.locator("#basket-bar")).to_be_hidden()  # no Checkout bar while waiting
    # Nothing is wider than the phone.
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390


async def test_a_hold_refused_not_admitted_goes_back_to_waiting(
        browsing: Browsing, start_server: ServerFactory, showtimes: list[int],
        sale_desk: SaleDesk, redis_url: str) -> None:
    server = start_server(**FAST_QUEUE)
    showtime = showtimes[0]
    await sale_desk.room(server, showtime, cap=1)
    # The server tells of the lapse within its tick (admission_lapsed): held
    # back here, so that the page learns it from its hold, as it does when
    # that frame is lost or the hold comes first.
    told = Gate(only=lambda frame: frame.get("t") == "admission_lapsed")
    told.close()
    picker = await browsing.picker(server.url, showtime, gate=told)
    page = picker.page
    await expect(page.locator("#main")).to_be_visible()  # admitted at once
    await expect(picker.notice).to_contain_text("It is your turn")
    await eventually(lambda: subscribed_admitted(told.passed, showtime))
    assert await lapse_admissions(redis_url, showtime) == 1
    async with someone_else(server.url, showtime):  # admitted in the freed place
        await eventually(lambda: one_active(server, showtime))

        await picker.seat("E7").click()

        waiting = page.locator("#waiting")
        await expect(waiting).to_be_visible()
        await expect(page.locator("#waiting-reason")).to_contain_text(
            "Your turn to choose seats ended")
        await expect(page.locator("#waiting-position")).to_have_text("1")
        await expect(page.locator("#announcer")).to_contain_text("ended")
        assert await picker.look("E7") == "available"

        await sale_desk.set(server, showtime, method="PATCH", active_cap=2)
        await expect(waiting).to_be_hidden()
        await picker.hold("E7")


async def test_a_lapsed_admission_sends_the_page_back_to_waiting_at_once(
        browsing: Browsing, start_server: ServerFactory, showtimes: list[int],
        sale_desk: SaleDesk, redis_url: str) -> None:
    server = start_server(**FAST_QUEUE)
    showtime = showtimes[0]
    await sale_desk.room(server, showtime, cap=1)
    line = Line()
    picker = await browsing.picker(server.url, showtime, width=390, gate=line)
    page = picker.page
    await expect(page.locator("#main")).to_be_visible()  # admitted at once
    await expect(picker.notice).to_contain_text("It is your turn")
    await eventually(lambda: subscribed_admitted(line.received(), showtime))
    async with someone_else(server.url, showtime):  # waits behind the page's buyer
        assert await lapse_admissions(redis_url, showtime) == 1
        # No click: the server's admission_lapsed frame brings the page back.
        waiting = page.locator("#waiting")
        await expect(waiting).to_be_visible()
        await expect(page.locator("#main")).to_be_hidden()
        await expect(page.locator("#waiting-reason")).to_contain_text(
            "Your turn to choose seats ended")
        await expect(page.locator("#announcer")).to_contain_text("Your turn to choose seats ended")
        # The other buyer got the freed turn; this one is next.
        await expect(page.locator("#waiting-position")).to_have_text("1")
    assert all(frame.get("op") != "hold" for frame in line.sent())
    assert any(frame.get("t") == "admission_lapsed" for frame in line.received())
    assert await serious_findings(page) == []


def subscribed_admitted(frames: Iterable[dict[str, Any]], showtime: int) -> bool:
    """Whether the server has answered the subscribe the page sent as it
    showed the map, finding the buyer admitted. That subscribe joins the
    waiting room (join.lua): read after a test lapsed the admission, it
    queues the buyer again, and the page is admitted anew ahead of whoever
    joins next. On a loaded machine its answer came up to 17 ms after the
    lapse: a test lapses an admission only once this holds."""
    return any(frame.get("t") == "ack" and frame.get("showtime") == showtime
               and "resumed" in frame and frame.get("queue") == "admitted"
               for frame in frames)


async def one_active(server: Server, showtime: int) -> bool:
    """Whether one buyer is active (the other, the page's, lapsed)."""
    async with aiohttp.ClientSession() as http, \
            http.get(f"{server.url}/api/showtimes/{showtime}/queue") as resp:
        return int((await resp.json())["active"]) == 1


async def test_the_waiting_page_has_no_serious_accessibility_findings(
        browsing: Browsing, start_server: ServerFactory, showtimes: list[int],
        sale_desk: SaleDesk) -> None:
    server = start_server(**FAST_QUEUE)
    showtime = showtimes[0]
    await sale_desk.room(server, showtime, cap=1)
    async with someone_else(server.url, showtime), someone_else(server.url, showtime):
        for place, width in ((2, 390), (3, 1366)):  # each page a new buyer, at the back
            picker = await browsing.picker(server.url, showtime, width=width)
            await expect(picker.page.locator("#waiting-position")).to_have_text(str(place))
            assert await serious_findings(picker.page) == []



async def test_the_kiosk_shows_the_on_sale_time_and_how_many_wait_without_queueing(
        browsing: Browsing, start_server: ServerFactory, showtimes: list[int],
        sale_desk: SaleDesk) -> None:
    server = start_server(**FAST_QUEUE)
    showtime = showtimes[0]
    opens = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    await sale_desk.room(server, showtime, cap=100, opens=opens)
    expected = opens.astimezone(ZONE).strftime("%H:%M")
    async with AsyncExitStack() as buyers:
        for _ in range(3):  # in the pre-queue
            await buyers.enter_async_context(someone_else(server.url, showtime))
        line = Line()
        kiosk = await browsing.kiosk(server.url, gate=line, clock=True)
        row = kiosk.locator(f'.show[data-showtime="{showtime}"]')
        sale = row.locator(".show-sale")
        await expect(sale).to_have_text(re.compile(rf"^On sale at .*{expected} · 3 waiting$"))
        # The other showtime has neither: no line at all.
        await expect(kiosk.locator(f'.show[data-showtime="{showtimes[1]}"] .show-sale')
                     ).to_be_hidden()

        await buyers.enter_async_context(someone_else(server.url, showtime))
        await expect(sale).to_have_text(re.compile(r"· 3 waiting$"))  # till its next look
        await kiosk.clock.fast_forward(15_000)  # the kiosk's sale poll (SALE_POLL_MS)
        await expect(sale).to_have_text(re.compile(r"· 4 waiting$"))
    # The kiosk asked by HTTP and only watched: it never queued.
    assert all(frame.get("op") != "queue" for frame in line.sent())
    async with aiohttp.ClientSession() as http, \
            http.get(f"{server.url}/api/showtimes/{showtime}/queue") as resp:
        assert (await resp.json())["waiting"] == 4


async def test_the_admin_sets_a_sale_in_the_theaters_time_and_bad_input_is_named_by_field(
        shop: Shop) -> None:
    # A showtime of the test's own, in a database of its own.
    title, _, _, theater_id = await venue(shop.database_url)
    showtime = await scheduled(shop.database_url, theater_id, title)
    server = shop.server()
    page = await admin_page(shop, server.url)
    await open_section(page, "Showtimes")
    await page.locator("#showtime-list li", has_text=re.compile(rf"^{showtime} · ")
                       ).get_by_role("button", name="Sale").click()
    form = page.locator("#sale-form")
    await expect(form.get_by_role("heading")).to_have_text(
        f"Sale of showtime {showtime} ({title})")
    await expect(page.locator("#sale-source")).to_have_text("Now: the deployment's defaults.")
    rate, cap, ttl = (form.get_by_label(re.compile(name)) for name in (
        "Admission rate", "Active buyers at once", "An admission lasts unused"))
    save = form.get_by_role("button", name="Save sale settings")

    async def error_of(field: str) -> str:
        return await form.locator(f'.field-error[data-for="{field}"]').inner_text()

    # Refused here, each field saying what is wrong with it.
    await rate.fill("12\x00")
    await cap.fill("9" * 40)
    await ttl.fill("\u0661\u0662\u0660")  # 120 in Arabic-Indic digits
    await save.click()
    assert await error_of("admission_rate") == "Admission rate: use the digits 0 to 9 only"
    assert await error_of("active_cap") == "Active buyers at once: that number is far too large"
    assert await error_of("admission_ttl_s") == (
        "An admission lasts unused: use the digits 0 to 9 only")
    await expect(rate).to_have_attribute("aria-invalid", "true")
    await expect(rate).to_be_focused()
    await rate.fill("")
    await save.click()
    assert await error_of("admission_rate") == "Admission rate: enter a whole number (0 for none)"

    # Refused by the API (422 naming the field), shown at the field.
    await rate.fill("2000000")
    await cap.fill("0")
    await ttl.fill("600")
    await save.click()
    await expect(form.locator('.field-error[data-for="admission_rate"]')).to_contain_text(
        "Admission rate: must be at most 1000000")
    await rate.fill("0")
    await ttl.fill("5")
    await save.click()
    await expect(form.locator('.field-error[data-for="admission_ttl_s"]')).to_contain_text(
        "An admission lasts unused: must be at least 60")
    await ttl.fill("600")
    await form.get_by_label("Waiting room").check()
    await save.click()  # a room nobody is ever let out of
    await expect(form.locator(".form-error")).to_contain_text("a waiting room needs")
    await expect(page.locator("#sale-source")).to_have_text("Now: the deployment's defaults.")

    # Saved: in the theater's time (Berlin, UTC+1 in January), said in words.
    await form.get_by_label(re.compile("On sale at")).fill("2030-01-15T10:00")
    await rate.fill("120")
    await cap.fill("50")
    await save.click()
    confirmation = form.get_by_role("status")
    await expect(confirmation).to_contain_text(f"Saved for showtime {showtime}")
    await expect(confirmation).to_contain_text("10:00")
    await expect(confirmation).to_contain_text("120 buyers a minute, at most 50 active at once")
    await expect(page.locator("#sale-source")).to_have_text("Now: this showtime's own settings.")
    answer = await (await page.request.get(
        f"{server.url}/api/admin/showtimes/{showtime}/sale")).json()
    assert answer["on_sale_at"] == "2030-01-15T09:00:00+00:00"
    assert (answer["waiting_room"], answer["admission_rate"], answer["active_cap"]) == (
        True, 120, 50)

    await form.get_by_role("button", name="Reset to defaults").click()
    await expect(confirmation).to_contain_text("back to the defaults")
    await expect(page.locator("#sale-source")).to_have_text("Now: the deployment's defaults.")
    await expect(form.get_by_label("Waiting room")).not_to_be_checked()
    await expect(form.get_by_label(re.compile("On sale at"))).to_have_value("")
