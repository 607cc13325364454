"""Pages as people see them: the picker and the kiosk, driven through Chromium."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Error,
    Locator,
    Page,
    WebSocketRoute,
    expect,
)

from seatserver.loadgen.client import SeatClient, new_session
from tests.e2e.server import Server, ServerFactory

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Generous: the test machines are small, and several processes share them.
LIVE_WITHIN_MS = 15_000


def require_chromium() -> None:
    """Fail (never skip) with the package to install when there is no Chromium."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(f"browser tests need Chromium at {CHROMIUM}: install the Debian package "
                    "'chromium' (apt-get install chromium), or `make test` does it as root")


class Browsing:
    """Opens pages, each in a browser context (cookies, storage) of its own."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.contexts: list[BrowserContext] = []
        self.errors: list[str] = []

    async def blank(self, *, width: int = 1280, height: int = 900, phone: bool = False,
                    timezone_id: str | None = None) -> Page:
        """A new person's empty tab, to set up before it loads anything; its
        clocks in ``timezone_id`` when given (else the machine's zone)."""
        context = await self.browser.new_context(
            viewport={"width": width, "height": height}, has_touch=phone, is_mobile=phone,
            timezone_id=timezone_id)
        self.contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))
        return page

    async def page(self, url: str, *, width: int = 1280, height: int = 900,
                   phone: bool = False, gate: Gate | Line | None = None,
                   timezone_id: str | None = None, clock: bool = False) -> Page:
        """A new person's tab at ``url``. ``clock``: the page's timers run on
        Playwright's clock (as the wall clock until the test moves it on with
        ``page.clock.fast_forward``), so a test need not wait out a 15 s poll."""
        page = await self.blank(width=width, height=height, phone=phone, timezone_id=timezone_id)
        if clock:
            await page.clock.install()
        if gate is not None:
            await page.route_web_socket("**/ws", gate.route)
        await page.goto(url)
        return page

    async def picker(self, base_url: str, showtime: int, *, width: int = 1280,
                     height: int = 900, phone: bool = False, gate: Gate | Line | None = None
                     ) -> Picker:
        page = await self.page(f"{base_url}/showtimes/{showtime}", width=width, height=height,
                               phone=phone, gate=gate)
        picker = Picker(page)
        await picker.wait_live()
        return picker

    async def kiosk(self, base_url: str, query: str = "", *, gate: Gate | Line | None = None,
                    clock: bool = False) -> Page:
        page = await self.page(f"{base_url}/kiosk{query}", width=1920, height=1080, gate=gate,
                               clock=clock)
        await expect(page.locator("#conn")).to_have_attribute("data-status", "live",
                                                              timeout=LIVE_WITHIN_MS)
        return page

    async def close(self) -> None:
        for context in self.contexts:
            try:
                await context.close()
            except Error:
                pass  # the browser went first

    def check(self) -> None:
        assert not self.errors, "uncaught errors in the pages:\n" + "\n".join(self.errors)


@dataclass(frozen=True)
class Shop:
    """Pages and servers on a database of the test's own, for tests that sell seats.

    Bookings live in PostgreSQL and come back into Redis whenever a server
    starts, so seats sold in the session's shared database would stay sold
    for every later test.
    """

    browsing: Browsing
    start_server: ServerFactory
    database_url: str
    showtime: int

    def server(self, **settings: str) -> Server:
        return self.start_server(DATABASE_URL=self.database_url, **settings)


class Picker:
    """The seat picker at /showtimes/{id}, as a person uses it."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.notice = page.locator("#notice")
        self.basket = page.locator("#basket-list")
        self.timer = page.locator("#basket-timer-value")
        self.status = page.locator("#conn")
        self.checkout = page.locator("#checkout")
        self.checkout_error = page.locator("#checkout-error")

    def seat(self, seat_id: str) -> Locator:
        return self.page.locator(f'.seat[data-id="{seat_id}"]')

    async def look(self, seat_id: str) -> str | None:
        return await self.seat(seat_id).get_attribute("data-look")

    async def wait_live(self, within_ms: float = LIVE_WITHIN_MS) -> None:
        await expect(self.status).to_have_attribute("data-status", "live", timeout=within_ms)

    async def expect_look(self, seat_id: str, look: str, within_ms: float = 5_000) -> None:
        await expect(self.seat(seat_id)).to_have_attribute("data-look", look, timeout=within_ms)

    async def hold(self, seat_id: str) -> None:
        await self.seat(seat_id).click()
        await self.expect_look(seat_id, "mine")

    async def give_email(self, address: str = "guest@example.com") -> None:
        """A guest's address for the ticket, as checkout asks for it."""
        await self.page.get_by_role("group", name="Where we send your ticket").get_by_label(
            "E-mail").fill(address)


class Gate:
    """Sits in the WebSocket of pages: while closed, frames from the server wait.

    Opening lets them through in their order. For races that must really be
    races: every page acts before any of them hears what the others did.
    With ``updates_only`` only the room's updates wait, as when the server's
    feed reads the stream late, while the acks of the page's commands (sent at
    once) pass; ``only`` picks the frames that wait by any rule. ``passed``
    keeps every frame let through to the page, in the order it got them.
    """

    def __init__(self, *, updates_only: bool = False,
                 only: Callable[[dict[str, Any]], bool] | None = None) -> None:
        self.closed = False
        # Which frames wait while the gate is closed (all of them by default).
        self.waits = only or ((lambda frame: frame.get("t") == "update") if updates_only
                              else (lambda frame: True))
        self.waiting: list[tuple[WebSocketRoute, str | bytes]] = []
        self.passed: list[dict[str, Any]] = []

    def route(self, ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        ws.on_message(server.send)

        def to_page(message: str | bytes) -> None:
            frame = json.loads(message)
            if self.closed and self.waits(frame):
                self.waiting.append((ws, message))
            else:
                ws.send(message)
                self.passed.append(frame)

        server.on_message(to_page)

    def close(self) -> None:
        self.closed = True

    def waiting_frames(self) -> list[dict[str, Any]]:
        return [json.loads(message) for _, message in self.waiting]

    def open(self) -> None:
        self.closed = False
        waiting, self.waiting = self.waiting, []
        for ws, message in waiting:
            ws.send(message)
            self.passed.append(json.loads(message))


class Line:
    """The line between a page and the server, inside the page's WebSocket.

    Keeps every JSON frame of each connection, both ways, in order. ``cut``
    ends the page's connections and keeps the line down: a new connection
    waits, neither refused nor answered, as over a network that is gone,
    until ``mend``. With ``forget_epoch`` the page's subscribes lose their
    ``epoch`` on the way, so the server resumes them by offset alone, as it
    does for clients from before epochs: what the page then receives is for
    it alone to judge.
    """

    def __init__(self, *, forget_epoch: bool = False) -> None:
        self.forget_epoch = forget_epoch
        self.connections: list[list[tuple[str, dict[str, Any]]]] = []
        self._up = asyncio.Event()
        self._up.set()
        self._open: list[WebSocketRoute] = []

    async def route(self, ws: WebSocketRoute) -> None:
        await self._up.wait()  # the page's socket stays "connecting" meanwhile
        server = ws.connect_to_server()
        frames: list[tuple[str, dict[str, Any]]] = []
        self.connections.append(frames)
        self._open.append(ws)

        def to_server(message: str | bytes) -> None:
            frame = json.loads(message)
            frames.append(("sent", frame))
            if self.forget_epoch and frame.get("op") == "subscribe" and "epoch" in frame:
                message = json.dumps({k: v for k, v in frame.items() if k != "epoch"})
            server.send(message)

        def to_page(message: str | bytes) -> None:
            frames.append(("received", json.loads(message)))
            ws.send(message)

        ws.on_message(to_server)
        server.on_message(to_page)

    async def cut(self) -> None:
        """End every open connection (both ends close) and stay down."""
        self._up.clear()
        cut, self._open = self._open, []
        for ws in cut:
            await ws.close()

    def mend(self) -> None:
        self._up.set()

    def sent(self, connection: int = -1) -> list[dict[str, Any]]:
        return [frame for way, frame in self.connections[connection] if way == "sent"]

    def received(self, connection: int = -1) -> list[dict[str, Any]]:
        return [frame for way, frame in self.connections[connection] if way == "received"]

    def last_position(self, showtime: int) -> tuple[str, str]:
        """The offset and epoch of the last snapshot or update the page was sent
        for ``showtime``, over every connection so far."""
        for frames in reversed(self.connections):
            for way, frame in reversed(frames):
                if (way == "received" and frame.get("showtime") == showtime
                        and frame.get("t") in ("snapshot", "update")):
                    return frame["offset"], frame["epoch"]
        raise AssertionError(f"the page was sent nothing of showtime {showtime}")


@asynccontextmanager
async def someone_else(base_url: str, showtime: int) -> AsyncIterator[SeatClient]:
    """Another person, on a plain protocol client with a session of their own."""
    async with aiohttp.ClientSession() as http:
        token = await new_session(http, base_url)
        async with SeatClient(http, base_url, token) as client:
            await client.subscribe(showtime)
            yield client
