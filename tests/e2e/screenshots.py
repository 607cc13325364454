"""``make screenshots``: PNGs of the picker, the kiosk, the account and admin pages (docs/images/).

Self-contained: it starts an embedded Redis and PostgreSQL in a temporary
folder (never touching servers of yours), seeds the demo, serves it, books and
holds a few seats so that every seat state shows, and photographs the pages
in Chromium at desktop, phone (fitted, and zoomed in) and lobby-screen sizes, the map as a
buyer finds it after a declined payment, best available with the list
picker, the orphan rule's advice (on the second demo showtime, whose rule is
turned on here) and the warning with Extend before holds end.

    .venv/bin/python -m tests.e2e.screenshots [--out docs/images] [--only admin,admin-sales]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import redis.asyncio as aioredis
from playwright.async_api import Browser, Page, async_playwright, expect

from seatserver.accounts.passwords import Passwords
from seatserver.accounts.seed import ADMIN_EMAIL, seed_staff
from seatserver.catalog.seed import seed_demo
from seatserver.db import create_pool, migrate
from seatserver.embedded import EmbeddedServices
from seatserver.personal.setup import stored_keys
from tests.e2e.browsing import CHROMIUM, CHROMIUM_ARGS, someone_else
from tests.e2e.server import Server
from tests.e2e.staff import enrol_admin, log_in_with_code, open_section
from tests.personal_support import set_email

OUT = Path(__file__).resolve().parents[2] / "docs" / "images"
# Sold in a real system through checkout; put straight into the booked set here.
BOOKED = ["C8", "C9", "C10", "C11", "D9", "D10", "G13", "G14", "G15", "J1", "J2", "J3",
          "L7", "L8", "L9", "L10", "K13", "K14"]
HELD_BY_OTHERS = ["E11", "E12", "F3", "F4", "H9", "H10", "H11", "K4", "K5"]
HELD_BY_US = ["F9", "F10"]
ADMIN_PASSWORD = "admin password for the screenshots"
# The box office's account on /counter (its password is the admin's).
CLERK_EMAIL = "counter@example.com"
CLERK_SECRET = bytes(range(41, 61))


async def prepare(database_url: str) -> list[int]:
    """The demo's showtimes; the second one with the orphan rule on."""
    await migrate(database_url)
    pool = await create_pool(database_url, 2)
    try:
        await seed_staff(pool, await stored_keys(pool), admin_password=ADMIN_PASSWORD,
                         kiosk_password=None)
        await enrol_admin(pool, ADMIN_EMAIL)
        clerk = await pool.fetchval(
            "INSERT INTO users (kind, email, password_hash) VALUES ('box_office', $1, $2) "
            "RETURNING id", CLERK_EMAIL, await Passwords(concurrency=1).hash(ADMIN_PASSWORD))
        await set_email(pool, clerk, CLERK_EMAIL)  # sealed, as the server keeps addresses
        await enrol_admin(pool, CLERK_EMAIL, CLERK_SECRET)
        showtimes = await seed_demo(pool)
        await pool.execute("UPDATE showtimes SET no_orphans = true WHERE id = $1",
                           showtimes[1])
        return showtimes
    finally:
        await pool.close()


Step = Callable[[Page], Awaitable[None]]


async def photograph(browser: Browser, url: str, path: Path, *, width: int, height: int,
                     full_page: bool = False, hold: list[str] | None = None,
                     then: Step | None = None) -> None:
    """The page at ``url`` once live, after holding ``hold`` and doing ``then``."""
    context = await browser.new_context(viewport={"width": width, "height": height},
                                        reduced_motion="reduce")
    page = await context.new_page()
    await page.goto(url)
    await expect(page.locator("#conn")).to_have_attribute("data-status", "live",
                                                          timeout=15_000)
    for seat in hold or []:
        await page.locator(f'.seat[data-id="{seat}"]').click()
        await expect(page.locator(f'.seat[data-id="{seat}"]')).to_have_attribute(
            "data-look", "mine")
    await page.mouse.move(0, 0)  # no seat's tooltip over the map
    if then is not None:
        await then(page)
    await settle(page)
    await page.screenshot(path=str(path), full_page=full_page)
    await context.close()
    print(f"wrote {path}")


async def photograph_static(browser: Browser, url: str, path: Path, *, width: int,
                            height: int, full_page: bool = False) -> None:
    """A page without a live connection (home, error pages), once its main content shows."""
    context = await browser.new_context(viewport={"width": width, "height": height},
                                        reduced_motion="reduce")
    page = await context.new_page()
    await page.goto(url)
    await expect(page.locator("[aria-busy]")).to_have_count(0)
    await settle(page)
    await page.screenshot(path=str(path), full_page=full_page)
    await context.close()
    print(f"wrote {path}")


async def photograph_declined(browser: Browser, url: str, path: Path) -> None:
    """The map as a buyer finds it after declining on the provider's page."""
    context = await browser.new_context(viewport={"width": 1024, "height": 768},
                                        reduced_motion="reduce")
    page = await context.new_page()
    await page.goto(url)
    await expect(page.locator("#conn")).to_have_attribute("data-status", "live",
                                                          timeout=15_000)
    for seat in ("D3", "D4"):
        await page.locator(f'.seat[data-id="{seat}"]').click()
        await expect(page.locator(f'.seat[data-id="{seat}"]')).to_have_attribute(
            "data-look", "mine")
    await page.get_by_label("E-mail").fill("guest@example.com")
    await page.locator("#checkout").click()
    await page.get_by_role("button", name="Decline").click()
    await expect(page.locator("#notice")).to_contain_text("did not go through")
    await settle(page)
    await page.screenshot(path=str(path))
    await context.close()
    print(f"wrote {path}")


async def photograph_account(browser: Browser, base: str, showtime: int, path: Path) -> None:
    """The account page as a guest finds it after signing up from the picker."""
    context = await browser.new_context(viewport={"width": 1280, "height": 760},
                                        reduced_motion="reduce")
    page = await context.new_page()
    await page.goto(f"{base}/account?next=%2Fshowtimes%2F{showtime}")
    await page.locator("#register-email").fill("alice@example.com")
    await page.locator("#register-password").fill("correct horse battery")
    await page.locator("#register-name").fill("Alice Liddell")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.locator("#who")).to_contain_text("Logged in as")
    await settle(page)
    await page.screenshot(path=str(path))
    await context.close()
    print(f"wrote {path}")


async def photograph_ticket_on_a_phone(browser: Browser, url: str, path: Path) -> None:
    """A guest's ticket as their link opens it on a second device (a phone, no session)."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800},
                                        reduced_motion="reduce")
    page = await context.new_page()
    await page.goto(url)
    await expect(page.locator("#conn")).to_have_attribute("data-status", "live",
                                                          timeout=15_000)
    for seat in ("A7", "A8"):  # seats no shot before holds
        await page.locator(f'.seat[data-id="{seat}"]').click()
        await expect(page.locator(f'.seat[data-id="{seat}"]')).to_have_attribute(
            "data-look", "mine")
    await page.get_by_label("E-mail").fill("ana@example.com")
    await page.locator("#checkout").click()
    await page.get_by_role("button", name=re.compile("^Pay")).click()
    link = await page.locator(".keep .link a").get_attribute("href")
    await context.close()
    assert link is not None
    phone = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                      has_touch=True, reduced_motion="reduce")
    page = await phone.new_page()
    await page.goto(link)
    await expect(page.get_by_role("img", name="QR code of your ticket")).to_be_visible()
    await settle(page)
    await page.screenshot(path=str(path), full_page=True)
    await phone.close()
    print(f"wrote {path}")


async def photograph_admin(browser: Browser, base: str, path: Path) -> None:
    """The admin page with the demo's showtimes listed and one's prices open."""
    context = await browser.new_context(viewport={"width": 1440, "height": 900},
                                        reduced_motion="reduce")
    page = await context.new_page()
    await log_in_with_code(page, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    await open_section(page, "Showtimes")
    await page.locator("#showtime-list li").first.get_by_role("button", name="Prices").click()
    await expect(page.locator("#override-list li").first).to_be_visible()
    await settle(page)
    await page.screenshot(path=str(path), full_page=True)
    await context.close()
    print(f"wrote {path}")


async def photograph_admin_sales(browser: Browser, base: str, showtimes: list[int],
                                 path: Path) -> None:
    """The sales section: the demo's showtimes live (seats held by others
    among them), the per-day chart and its table, after a booking paid on
    each day (the seats in BOOKED are in Redis only: no sale to report)."""
    from tests.e2e.test_sales import paid_elsewhere  # a test module: only when shooting

    for showtime, seats in zip(showtimes, (["D1", "D2", "D3"], ["E5"]), strict=False):
        await paid_elsewhere(base, showtime, seats)
    context = await browser.new_context(viewport={"width": 1440, "height": 900},
                                        reduced_motion="reduce")
    page = await context.new_page()
    await log_in_with_code(page, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    await open_section(page, "Sales")
    await expect(page.locator("#sales-live tbody tr").first).not_to_contain_text("…")
    await settle(page)
    await page.screenshot(path=str(path), full_page=True)
    await context.close()
    print(f"wrote {path}")


async def photograph_admin_phone(browser: Browser, base: str, path: Path) -> None:
    """The price rules on a phone: every section a link, a price typed with a
    comma named as such beside its field."""
    context = await browser.new_context(viewport={"width": 390, "height": 844},
                                        device_scale_factor=2, is_mobile=True, has_touch=True,
                                        reduced_motion="reduce")
    page = await context.new_page()
    await log_in_with_code(page, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    await open_section(page, "Price rules")
    form = page.locator("#price-form")
    await form.get_by_label("Price in EUR").fill("12,50")
    await form.get_by_role("button", name="Set price").click()
    await expect(form.locator('.field-error[data-for="amount"]')).to_be_visible()
    await settle(page)
    await page.screenshot(path=str(path), full_page=True)
    await context.close()
    print(f"wrote {path}")


async def photograph_counter(browser: Browser, base: str, showtime: int, path: Path) -> None:
    """The box office's counter: the admin blocks two house seats (on the
    House seats section), the clerk chooses one of them and a free one."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900},
                                        reduced_motion="reduce")
    admin = await context.new_page()
    await log_in_with_code(admin, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    await open_section(admin, "House seats")
    house = admin.locator("#house")
    await house.get_by_label("Showtime").select_option(str(showtime))
    for seat in ("8", "9"):
        await house.get_by_role("button", name=re.compile(rf"^Row B, seat {seat},")).click()
    await house.get_by_role("button", name="Block seats", exact=True).click()
    await expect(house.locator(".form-done")).to_contain_text("Blocked")
    await context.close()

    context = await browser.new_context(viewport={"width": 1280, "height": 900},
                                        reduced_motion="reduce")
    page = await context.new_page()
    await log_in_with_code(page, base, CLERK_EMAIL, ADMIN_PASSWORD, CLERK_SECRET)
    await expect(page).to_have_url(re.compile(r"/counter$"))
    await page.get_by_role("combobox", name="Showtime").select_option(str(showtime))
    seats = page.get_by_role("group", name="Seats of the showtime")
    for seat in ("7", "8"):
        await seats.get_by_role("button", name=re.compile(rf"^Row B, seat {seat},")).click()
    await page.mouse.move(0, 0)
    await settle(page)
    await page.screenshot(path=str(path), full_page=True)
    await context.close()
    print(f"wrote {path}")


async def photograph_layout_editor(browser: Browser, base: str, path: Path) -> None:
    """The screens section: the demo's Saal 1 on the layout editor's grid, a
    block of seats selected, and the preview as the picker draws it."""
    context = await browser.new_context(viewport={"width": 1366, "height": 768},
                                        reduced_motion="reduce")
    page = await context.new_page()
    await log_in_with_code(page, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    await open_section(page, "Screens")
    await page.get_by_role("button", name="Edit screen Saal 1").first.click()
    grid = page.get_by_role("grid", name="Seat layout grid")
    await grid.locator('[data-id="E5"]').click()
    await grid.locator('[data-id="F8"]').click(modifiers=["Shift"])
    await settle(page)
    await page.locator("#screens").screenshot(path=str(path))
    await context.close()
    print(f"wrote {path}")


async def best_and_list(page: Page) -> None:
    """Best available's answer, and the list picker open on a row."""
    best = page.get_by_role("region", name="Best available")
    await best.get_by_label("Party size").fill("4")
    await best.get_by_role("button", name="Find seats").click()
    await expect(page.locator("#best-result")).to_contain_text("Held for you")
    await page.get_by_text("Choose from a list", exact=True).click()
    await page.locator("#list-type").select_option("gold")


async def orphan_advice(page: Page) -> None:
    """A click that would leave one seat alone: the advice beside the seat."""
    await page.locator('.seat[data-id="C2"]').click()  # C1 would be left alone
    await expect(page.get_by_role("group", name=re.compile("^Row C, seat 2 cannot be held"))
                 ).to_be_visible()


async def zoom_in(page: Page) -> None:
    """The map zoomed in twice around its middle: part of the hall out of view."""
    for _ in range(2):
        await page.get_by_role("button", name="Zoom in").click()
    await expect(page.locator("#scroll-hint")).to_be_visible()
    await page.locator("#map").scroll_into_view_if_needed()


async def extend_warning(page: Page) -> None:
    """Held seats in their last minute (on a server with 65 s holds): the warning."""
    await expect(page.get_by_role("button", name="Extend")).to_be_visible(timeout=15_000)


async def settle(page: Page) -> None:
    """Let counts, frames and fonts finish before the photograph."""
    await page.evaluate("document.fonts.ready")
    await page.wait_for_timeout(600)


async def shoot(server: Server, short_holds: Server, redis_url: str, showtimes: list[int],
                out: Path, only: set[str]) -> None:
    showtime = showtimes[0]

    async with aioredis.from_url(redis_url) as redis:
        await redis.sadd(f"booked:{{st:{showtime}}}", *BOOKED)
    async with someone_else(server.url, showtime) as other, async_playwright() as playwright:
        ack = await other.hold(showtime, HELD_BY_OTHERS)
        if not ack["ok"]:
            raise RuntimeError(f"could not hold the demo seats: {ack}")
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            picker = f"{server.url}/showtimes/{showtime}"
            st1 = f"{server.url}/showtimes/{showtimes[1]}"
            # name -> the shot (written to out / "<name>.png"); --only picks some.
            shots: dict[str, Callable[[Path], Awaitable[None]]] = {
                "picker": lambda p: photograph(browser, picker, p, width=1440, height=900,
                                               full_page=True, hold=HELD_BY_US),
                # The screen as the phone shows it: the bar with Checkout at its bottom.
                "picker-phone": lambda p: photograph(browser, picker, p, width=390, height=844,
                                                     hold=["G9", "G10"]),
                "picker-phone-zoomed": lambda p: photograph(
                    browser, picker, p, width=390, height=844, hold=["J8", "J9"], then=zoom_in),
                "picker-declined": lambda p: photograph_declined(browser, picker, p),
                "picker-best": lambda p: photograph(browser, picker, p, width=1440, height=1100,
                                                    full_page=True, then=best_and_list),
                "picker-orphan": lambda p: photograph(browser, st1, p, width=1440, height=900,
                                                      then=orphan_advice),
                "picker-extend": lambda p: photograph(
                    browser, f"{short_holds.url}/showtimes/{showtimes[1]}", p, width=1440,
                    height=900, full_page=True, hold=["G9", "G10"], then=extend_warning),
                "kiosk": lambda p: photograph(browser, f"{server.url}/kiosk", p, width=1920,
                                              height=1080),
                "kiosk-map": lambda p: photograph(
                    browser, f"{server.url}/kiosk?showtime={showtime}", p, width=1920,
                    height=1080),
                "home": lambda p: photograph_static(browser, f"{server.url}/", p, width=1366,
                                                    height=768, full_page=True),
                "home-phone": lambda p: photograph_static(browser, f"{server.url}/", p,
                                                          width=390, height=844),
                "not-found": lambda p: photograph_static(
                    browser, f"{server.url}/showtimes/987654321", p, width=1366, height=768),
                "account": lambda p: photograph_account(browser, server.url, showtime, p),
                "ticket-phone": lambda p: photograph_ticket_on_a_phone(browser, picker, p),
                "admin": lambda p: photograph_admin(browser, server.url, p),
                "admin-sales": lambda p: photograph_admin_sales(browser, server.url, showtimes, p),
                "admin-phone": lambda p: photograph_admin_phone(browser, server.url, p),
                "layout-editor": lambda p: photograph_layout_editor(browser, server.url, p),
                "counter": lambda p: photograph_counter(browser, server.url, showtime, p),
            }
            for name, take in shots.items():
                if not only or name in only:
                    await take(out / f"{name}.png")
        finally:
            await browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"folder (default {OUT})")
    parser.add_argument("--only", default="", help="these shots only, by name: admin,admin-sales")
    args = parser.parse_args(argv)
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="seatserver-shots-") as data, \
            EmbeddedServices(Path(data)) as services:
        showtimes = asyncio.run(prepare(services.database_url))
        server = Server(services.redis_url, services.database_url, SEATSERVER_HOLD_TTL="480")
        short_holds = Server(services.redis_url, services.database_url,
                             SEATSERVER_HOLD_TTL="65")
        try:
            server.start()
            short_holds.start()
            asyncio.run(shoot(server, short_holds, services.redis_url, showtimes, args.out,
                              only))
        finally:
            server.close()
            short_holds.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
