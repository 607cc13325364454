"""Ticket links: the signed, absolute address that opens a ticket on any device,
the contact a guest gives at checkout, and the order history."""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import asyncpg
import pytest

from seatserver.bookings.keys import Keyring, SecretStore
from seatserver.bookings.links import TicketLinks
from seatserver.bookings.tickets import TicketSigner
from seatserver.loadgen.client import SeatClient
from seatserver.personal.cipher import BOOKINGS_EMAIL, BOOKINGS_PHONE
from tests.bookings.conftest import Buyer, ServerFactory
from tests.bookings.test_calendar import parse_ics
from tests.personal_support import cipher_of

BuyerFactory = Callable[..., Awaitable[Buyer]]
PUBLIC = "https://tickets.example.com"


@pytest.fixture
async def buyer(buyer_at: BuyerFactory, base_url: str) -> Buyer:
    return await buyer_at(base_url)


def test_link_token_opens_its_booking_and_nothing_else_does() -> None:
    links = TicketLinks(Keyring.of(ticket="link-secret"), PUBLIC)
    token = links.token("ABCDEFGHJK")
    assert links.url("ABCDEFGHJK") == f"{PUBLIC}/tickets/{token}"
    assert links.verify(token) == "ABCDEFGHJK"
    reference, mac = token.split(".")
    flipped = mac[:-1] + ("0" if mac[-1] != "0" else "1")
    other = links.token("ABCDEFGHJL")
    arabic = mac[:-1] + "\u0663"  # ARABIC-INDIC DIGIT THREE
    forged = [
        f"{reference}.{flipped}",                       # the mac altered
        f"ABCDEFGHJL.{mac}",                            # this mac on another booking
        f"{reference}.{other.split('.')[1]}",           # another booking's mac on this one
        f"{reference}.{mac[:16]}",                      # cut to a ticket id's length
        f"{reference}.{mac[:-1]}", token[:-1], token + "0", token + "\n",
        f"{reference}.{mac.upper()}", f"{reference.lower()}.{mac}",
        TicketLinks(Keyring.of(ticket="other"), PUBLIC).token(reference),  # another key
        TicketSigner(Keyring.of(ticket="link-secret")).issue(reference),   # a ticket id
        f"{reference}.{arabic}", f"{reference}\x00.{mac}", token.replace(".", "\x00"),
        "", ".", reference, "x" * 100_000,
    ]
    for bad in forged:
        assert links.verify(bad) is None, bad


async def test_link_survives_a_key_rotation_for_the_grace_period_only(
        db_pool: asyncpg.Pool) -> None:
    store = SecretStore(db_pool)
    before = Keyring(store, {})
    await before.load()
    old = TicketLinks(before, PUBLIC).token("ABCDEFGHJK")
    await store.rotate("ticket", timedelta(hours=1))
    during = Keyring(store, {})
    await during.load()
    links = TicketLinks(during, PUBLIC)
    assert links.token("ABCDEFGHJK") != old  # signed with the new key now
    assert links.verify(old) == "ABCDEFGHJK"  # the old one still opens it
    async with db_pool.acquire() as conn:  # the grace period ends
        await conn.execute("UPDATE server_secrets SET valid_until = now() - interval '1 s' "
                           "WHERE name = 'ticket' AND valid_until IS NOT NULL")
    after = Keyring(store, {})
    await after.load()
    assert TicketLinks(after, PUBLIC).verify(old) is None
    assert TicketLinks(after, PUBLIC).verify(links.token("ABCDEFGHJK")) == "ABCDEFGHJK"


async def _hold(buyer: Buyer, showtime: int, seats: list[str]) -> None:
    async with SeatClient(buyer.http, buyer.base, buyer.token) as client:
        assert (await client.hold(showtime, seats))["ok"] is True


async def _paid(buyer: Buyer, showtime: int, seats: list[str]) -> Any:
    await _hold(buyer, showtime, seats)
    status, booking = await buyer.checkout(showtime, secrets.token_hex(6), seats,
                                           email="ana.guest@example.com")
    assert status == 201, booking
    await buyer.pay(booking["checkout_url"], "pay")
    return await buyer.booking(booking["reference"])


@pytest.mark.parametrize("email", [
    None, "", "not-an-address", "ana@example", "ana@exa mple.com", "ana\x00@example.com",
    "ana@example.com\x00", "a" * 300 + "@example.com", "a@b.c" + "o" * 400, 42,
    "ana@example.com\r\nBcc: all@example.com", ["ana@example.com"], {"email": "a@b.co"},
])
async def test_guest_checkout_without_a_good_email_is_refused_and_nothing_is_booked(
        buyer: Buyer, showtime: int, seats: list[str], email: Any,
        db_pool: asyncpg.Pool) -> None:
    await _hold(buyer, showtime, seats[:1])
    body: dict[str, Any] = {"seats": seats[:1]}
    if email is not None:
        body["email"] = email
    status, answer = await buyer.call("POST", f"/api/showtimes/{showtime}/bookings",
                                      json=body, headers={"Idempotency-Key": "k1"})
    if isinstance(email, str) and "\x00" in email:  # the body reader refuses NULs first
        assert (status, answer["error"]["code"]) == (400, "bad_request"), answer
    else:
        assert (status, answer["error"]["code"]) == (422, "invalid_input"), answer
        assert answer["error"]["message"].startswith("email")
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM bookings") == 0


@pytest.mark.parametrize("phone", ["12", "+1" + "2" * 40, "call me", "12\x0034",
                                   "\uff11\uff12\uff13\uff14\uff15\uff16"])
async def test_guest_checkout_with_a_bad_phone_is_refused(
        buyer: Buyer, showtime: int, seats: list[str], phone: str) -> None:
    await _hold(buyer, showtime, seats[:1])
    status, answer = await buyer.call(
        "POST", f"/api/showtimes/{showtime}/bookings", headers={"Idempotency-Key": "k1"},
        json={"seats": seats[:1], "email": "ana@example.com", "phone": phone})
    if "\x00" in phone:
        assert (status, answer["error"]["code"]) == (400, "bad_request"), answer
        return
    assert (status, answer["error"]["code"]) == (422, "invalid_input"), answer
    assert answer["error"]["message"].startswith("phone")


async def test_guest_contact_is_kept_in_the_booking(
        buyer: Buyer, showtime: int, seats: list[str], db_pool: asyncpg.Pool) -> None:
    await _hold(buyer, showtime, seats[:1])
    status, booking = await buyer.call(
        "POST", f"/api/showtimes/{showtime}/bookings", headers={"Idempotency-Key": "k1"},
        json={"seats": seats[:1], "email": " ana@example.com ", "phone": "+49 30 1234567"})
    assert status == 201, booking
    assert (booking["email"], booking["phone"]) == ("ana@example.com", "+49 30 1234567")
    async with db_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT reference, contact_email, contact_phone, "
                                  "contact_email_sealed, contact_phone_sealed FROM bookings")
    cipher = await cipher_of(db_pool)
    # Sealed at rest, bound to the booking; nothing in the clear columns.
    assert (row["contact_email"], row["contact_phone"]) == (None, None)
    assert (cipher.open(row["contact_email_sealed"], BOOKINGS_EMAIL, row["reference"]),
            cipher.open(row["contact_phone_sealed"], BOOKINGS_PHONE, row["reference"])) == (
        "ana@example.com", "+49 30 1234567")


async def test_ticket_link_opens_the_ticket_without_a_session_anywhere(
        make_server: ServerFactory, demo: list[int], buyer_at: BuyerFactory,
        http: aiohttp.ClientSession, showtime: int) -> None:
    server = await make_server()
    buyer = await buyer_at(str(server.make_url("/")).rstrip("/"))
    booking = await _paid(buyer, showtime, ["E10", "E9", "E8"])
    assert [s["id"] for s in booking["seats"]] == ["E8", "E9", "E10"]  # natural order
    link = booking["ticket_url"]
    assert link.startswith(str(server.make_url("/")).rstrip("/") + "/tickets/")
    # A second device: no cookies, no token, nothing but the link.
    async with aiohttp.ClientSession() as stranger:
        async with stranger.get(link) as resp:
            assert resp.status == 200 and resp.content_type == "text/html"
            assert resp.headers["Referrer-Policy"] == "no-referrer"
            page = await resp.text()
        async with stranger.get(link + "/calendar.ics") as resp:
            assert resp.status == 200 and resp.content_type == "text/calendar"
            assert "attachment" in resp.headers["Content-Disposition"]
            event = parse_ics(await resp.read())
    assert booking["ticket"] in page and 'aria-label="QR code of your ticket"' in page
    assert booking["show"]["movie"] in page
    assert page.index("Row E, seat 8") < page.index("Row E, seat 9") < page.index(
        "Row E, seat 10")
    assert event["SUMMARY"] == booking["show"]["movie"]
    assert event["UID"] == f"booking-{booking['reference']}@seatserver"
    assert link in event["DESCRIPTION"]
    # The signed-in receipt names the same link.
    async with buyer.http.get(f"{buyer.base}/bookings/{booking['reference']}",
                              headers=buyer.auth) as resp:
        assert link in await resp.text()


async def test_forged_or_hostile_ticket_links_answer_404_never_500(
        buyer: Buyer, base_url: str, showtime: int) -> None:
    booking = await _paid(buyer, showtime, ["F1"])
    token = urlsplit(booking["ticket_url"]).path.rsplit("/", 1)[1]
    reference, mac = token.split(".")
    hostile = [f"{reference}.{mac[::-1]}", f"{reference}.{mac[:16]}", reference,
               booking["ticket"], "%00", f"{reference}%00.{mac}", "9" * 5000,
               quote("٣" * 43), quote("🎟") * 20, f"{token}%0a"]
    async with aiohttp.ClientSession() as stranger:
        for bad in hostile:
            for suffix in ("", "/calendar.ics"):
                async with stranger.get(f"{base_url}/tickets/{bad}{suffix}") as resp:
                    assert resp.status in (404, 400, 414), (bad, resp.status)
                    assert booking["show"]["movie"] not in await resp.text()


async def test_a_cancelled_bookings_link_says_it_is_cancelled(
        buyer: Buyer, base_url: str, showtime: int) -> None:
    booking = await _paid(buyer, showtime, ["G5"])
    status, body = await buyer.call("POST", f"/api/bookings/{booking['reference']}/cancel")
    assert status == 200, body
    async with aiohttp.ClientSession() as stranger:
        async with stranger.get(booking["ticket_url"]) as resp:
            page = await resp.text()
        async with stranger.get(booking["ticket_url"] + "/calendar.ics") as resp:
            event = parse_ics(await resp.read())
    assert "This booking was cancelled" in page and "<svg" not in page
    assert event["STATUS"] == "CANCELLED"


async def test_history_lists_upcoming_shows_first_then_past_ones_latest_first(
        buyer: Buyer, demo: list[int], db_pool: asyncpg.Pool) -> None:
    first, second = demo[1], demo[0]  # bought in this order: "newest first" is the reverse
    made = {s: (await _paid(buyer, s, ["H3"]))["reference"] for s in (first, second)}

    async def listed(days: dict[int, int]) -> list[str]:
        async with db_pool.acquire() as conn:
            for showtime, offset in days.items():
                await conn.execute("UPDATE showtimes SET starts_at = now() + $2::interval "
                                   "WHERE id = $1", showtime, timedelta(days=offset))
        status, history = await buyer.call("GET", "/api/bookings")
        assert status == 200, history
        return [b["reference"] for b in history]

    # Coming: the soonest first. One past: after every coming one. Both past: latest first.
    assert await listed({first: 10, second: 20}) == [made[first], made[second]]
    assert await listed({first: 20, second: 10}) == [made[second], made[first]]
    assert await listed({first: -10, second: 10}) == [made[second], made[first]]
    assert await listed({first: -10, second: -20}) == [made[first], made[second]]
    assert await listed({first: -20, second: -10}) == [made[second], made[first]]
    _, history = await buyer.call("GET", "/api/bookings")
    show = history[0]["show"]
    assert show["movie"] and show["theater"] and show["screen"] and show["starts_at"]
    assert re.fullmatch(r"http.*/tickets/[A-Z0-9]{10}\.[0-9a-f]{32}", history[0]["ticket_url"])
