"""The door: a scanner checks tickets and admits each one once."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from seatserver.accounts.sessions import open_session
from seatserver.bookings.keys import Keyring
from seatserver.bookings.tickets import TicketSigner
from seatserver.loadgen.client import SeatClient
from tests.bookings.conftest import Buyer

BuyerFactory = Callable[..., Awaitable[Buyer]]


@pytest.fixture
async def buyer(buyer_at: BuyerFactory, base_url: str) -> Buyer:
    return await buyer_at(base_url)


async def kiosk_session(db_pool: asyncpg.Pool) -> str:
    """A session of a new kiosk account: what the door's scanners log in as."""
    async with db_pool.acquire() as conn:
        user_id = await conn.fetchval(
            "INSERT INTO users (kind, email, password_hash) VALUES ('kiosk', $1, $2) "
            "RETURNING id", f"door-{secrets.token_hex(6)}@example.com",
            "$argon2id$not-a-real-hash")
        return (await open_session(conn, user_id, mfa=True)).token


@pytest.fixture
async def scanner(buyer_at: BuyerFactory, base_url: str, db_pool: asyncpg.Pool) -> Buyer:
    return await buyer_at(base_url, await kiosk_session(db_pool))


async def _paid(buyer: Buyer, showtime: int, seats: list[str]) -> Any:
    async with SeatClient(buyer.http, buyer.base, buyer.token) as client:
        assert (await client.hold(showtime, seats))["ok"] is True
    status, booking = await buyer.checkout(showtime, "k")
    assert status == 201, booking
    await buyer.pay(booking["checkout_url"], "pay")
    return await buyer.booking(booking["reference"])


async def _scan(scanner: Buyer, verb: str, ticket: str, showtime: int | None = None
                ) -> dict[str, Any]:
    body: dict[str, Any] = {"ticket": ticket}
    if showtime is not None:
        body["showtime"] = showtime
    status, answer = await scanner.call("POST", f"/api/tickets/{verb}", json=body)
    assert status == 200, answer
    result: dict[str, Any] = answer
    return result


async def test_ticket_admits_once_and_a_second_scan_says_when_it_was_used(
        buyer: Buyer, scanner: Buyer, showtime: int, seats: list[str],
        db_pool: asyncpg.Pool) -> None:
    booking = await _paid(buyer, showtime, seats[:2])
    ticket = booking["ticket"]

    checked = await _scan(scanner, "verify", ticket, showtime)
    assert (checked["valid"], checked["result"], checked["admitted_at"]) == (True, "ok", None)
    assert checked["reference"] == booking["reference"] and checked["status"] == "booked"
    assert checked["show"]["title"] and checked["show"]["id"] == showtime
    assert [s["id"] for s in checked["seats"]] == seats[:2]
    assert checked["seats"][0]["name"].startswith("Row ")

    first = await _scan(scanner, "admit", ticket, showtime)
    assert (first["valid"], first["result"]) == (True, "admitted")
    second = await _scan(scanner, "admit", ticket, showtime)
    assert (second["valid"], second["result"]) == (False, "already_admitted")
    assert second["admitted_at"] == first["admitted_at"]
    assert "Already admitted" in second["message"]
    later = await _scan(scanner, "verify", ticket)
    assert (later["valid"], later["result"]) == (False, "already_admitted")

    async with db_pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT actor, action, remote, detail FROM audit_log "
            "WHERE action LIKE 'ticket.%' ORDER BY id")
    assert [(r["action"], r["remote"]) for r in rows] == [
        ("ticket.admitted", "127.0.0.1"), ("ticket.refused", "127.0.0.1")]
    # Once used, the ticket can no longer be cancelled for a refund.
    status, body = await buyer.call("POST", f"/api/bookings/{booking['reference']}/cancel")
    assert (status, body["error"]["code"]) == (409, "cancel_closed")


async def test_racing_scanners_admit_a_copied_ticket_once(
        buyer: Buyer, buyer_at: BuyerFactory, base_url: str, showtime: int,
        seats: list[str], db_pool: asyncpg.Pool) -> None:
    ticket = (await _paid(buyer, showtime, seats[:1]))["ticket"]
    scanners = [await buyer_at(base_url, await kiosk_session(db_pool)) for _ in range(6)]
    results = await asyncio.gather(*(_scan(s, "admit", ticket) for s in scanners))
    assert sorted(r["result"] for r in results) == ["admitted"] + ["already_admitted"] * 5


async def test_forged_altered_cancelled_and_wrong_show_tickets_do_not_admit(
        buyer: Buyer, scanner: Buyer, showtime: int, seats: list[str], keys: Keyring,
        starts_in: Callable[[timedelta], Awaitable[None]]) -> None:
    await starts_in(timedelta(days=3))
    booking = await _paid(buyer, showtime, seats[:1])
    ticket = booking["ticket"]
    reference, mac = ticket.split(".")
    for forged in (TicketSigner(Keyring.of(ticket="someone-else" * 3)).issue(reference),
                   f"{reference}.{mac[::-1]}", "not a ticket"):
        answer = await _scan(scanner, "admit", forged)
        assert (answer["valid"], answer["result"], answer["reference"]) == (
            False, "not_genuine", None)
    unknown = TicketSigner(keys).issue("ZZZZZZZZZZ")
    assert (await _scan(scanner, "verify", unknown))["result"] == "unknown_booking"
    other = await _scan(scanner, "admit", ticket, showtime + 1000)
    assert (other["valid"], other["result"]) == (False, "other_showtime")

    status, _ = await buyer.call("POST", f"/api/bookings/{reference}/cancel")
    assert status == 200
    cancelled = await _scan(scanner, "admit", ticket, showtime)
    assert (cancelled["valid"], cancelled["result"], cancelled["status"]) == (
        False, "not_booked", "cancelled")
    assert "cancelled" in cancelled["message"]


async def test_door_answers_bad_input_with_codes(scanner: Buyer, base_url: str,
                                                 plain_http: Any) -> None:
    for body in ({}, {"ticket": ""}, {"ticket": 5}, {"ticket": "x", "showtime": "one"},
                 {"ticket": "x", "extra": 1}, {"ticket": "x" * 200}):
        status, answer = await scanner.call("POST", "/api/tickets/verify", json=body)
        assert (status, answer["error"]["code"]) == (422, "invalid_input"), body
    status, answer = await scanner.call("POST", "/api/tickets/verify", json=["x"])
    assert (status, answer["error"]["code"]) == (400, "bad_request")
    async with plain_http.post(base_url + "/api/tickets/admit", json={"ticket": "x"}) as resp:
        assert resp.status == 401  # no session


async def test_only_kiosk_and_admin_sessions_scan_tickets(
        buyer: Buyer, showtime: int, seats: list[str]) -> None:
    ticket = (await _paid(buyer, showtime, seats[:1]))["ticket"]

    status, answer = await buyer.call("POST", "/api/tickets/admit", json={"ticket": ticket})

    assert (status, answer["error"]["code"]) == (403, "forbidden")
