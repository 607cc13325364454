"""Signing keys: none has a default in the code; generated once, shared by every
instance through PostgreSQL, rotated with a grace period; configured ones win."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from seatserver.bookings.keys import Keyring, SecretStore
from seatserver.bookings.simulated import SIGNATURE_HEADER, webhook_signature
from seatserver.bookings.tickets import TicketSigner
from seatserver.loadgen.client import SeatClient
from seatserver.settings import Settings, SettingsError
from tests.bookings.conftest import Buyer, ServerFactory
from tests.bookings.test_door import kiosk_session
from tests.support import eventually

BuyerFactory = Callable[..., Awaitable[Buyer]]
# What settings.py held before issue 13: public, so never a key.
OLD_DEFAULTS = ("dev-only-payment-secret", "dev-only-ticket-secret")


async def _pending(buyer: Buyer, showtime: int, seats: list[str]) -> Any:
    async with SeatClient(buyer.http, buyer.base, buyer.token) as client:
        assert (await client.hold(showtime, seats))["ok"] is True
    status, booking = await buyer.checkout(showtime, secrets.token_hex(6), seats)
    assert status == 201, booking
    return booking


def _captured(booking: Any) -> bytes:
    return json.dumps({
        "id": "evt_" + secrets.token_hex(6), "type": "captured", "created": int(time.time()),
        "data": {"order_id": booking["payment"]["order_id"],
                 "amount": booking["total"]["amount"],
                 "currency": booking["total"]["currency"], "payment_id": "pay_x"}}).encode()


async def _webhook(buyer: Buyer, body: bytes, key: str | None) -> tuple[int, Any]:
    headers = {} if key is None else {
        SIGNATURE_HEADER: webhook_signature(key, body, int(time.time()))}
    return await buyer.call("POST", "/api/payments/simulated/webhook", data=body,
                            headers=headers)


async def _scan(scanner: Buyer, ticket: str) -> str:
    status, answer = await scanner.call("POST", "/api/tickets/verify", json={"ticket": ticket})
    assert status == 200, answer
    result: str = answer["result"]
    return result


async def test_unsigned_and_default_signed_webhooks_do_not_book(
        buyer_at: BuyerFactory, base_url: str, showtime: int, seats: list[str],
        db_pool: asyncpg.Pool) -> None:
    buyer = await buyer_at(base_url)
    booking = await _pending(buyer, showtime, seats[:1])
    body = _captured(booking)
    for key in (None, "", *OLD_DEFAULTS):
        status, answer = await _webhook(buyer, body, key)
        assert (status, answer["error"]["code"]) == (400, "bad_signature"), key
    assert (await buyer.booking(booking["reference"]))["status"] == "pending"
    scanner = await buyer_at(base_url, await kiosk_session(db_pool))
    forged = TicketSigner(Keyring.of(ticket=OLD_DEFAULTS[1])).issue(booking["reference"])
    assert await _scan(scanner, forged) == "not_genuine"


async def test_two_instances_on_one_database_generate_one_set_of_keys_and_agree(
        make_server: ServerFactory, buyer_at: BuyerFactory, showtime: int, seats: list[str],
        db_pool: asyncpg.Pool) -> None:
    async with db_pool.acquire() as conn:
        await conn.execute("TRUNCATE server_secrets")
    one, two = await asyncio.gather(make_server(), make_server())
    url_one, url_two = (str(s.make_url("/")).rstrip("/") for s in (one, two))
    async with db_pool.acquire() as conn:
        stored = await conn.fetch("SELECT name, version, length(secret) AS size "
                                  "FROM server_secrets ORDER BY name")
    assert [tuple(r) for r in stored] == [("payment", 1, 64), ("ticket", 1, 64)]

    # Paid on the first instance's provider page, returned to the second.
    buyer = await buyer_at(url_one)
    booking = await _pending(buyer, showtime, seats[:2])
    async with buyer.http.post(url_one + booking["checkout_url"] + "/pay",
                               allow_redirects=False) as resp:
        signed = resp.headers["Location"]
    path = signed[signed.index("/api/"):]
    async with buyer.http.get(url_two + path, allow_redirects=False) as resp:
        assert (resp.status, resp.headers["Location"]) == (
            303, f"/bookings/{booking['reference']}")
    ticket = (await buyer.booking(booking["reference"]))["ticket"]
    scanner = await buyer_at(url_two, await kiosk_session(db_pool))
    assert await _scan(scanner, ticket) == "ok"


async def test_rotated_keys_verify_during_the_grace_period_and_not_after(
        make_server: ServerFactory, buyer_at: BuyerFactory, showtime: int, seats: list[str],
        db_pool: asyncpg.Pool) -> None:
    server = await make_server(secret_refresh_s=0.1)
    url = str(server.make_url("/")).rstrip("/")
    buyer = await buyer_at(url)
    scanner = await buyer_at(url, await kiosk_session(db_pool))
    paid = await _pending(buyer, showtime, seats[:1])
    await buyer.pay(paid["checkout_url"], "pay")
    old_ticket = (await buyer.booking(paid["reference"]))["ticket"]
    old_keys = Keyring(SecretStore(db_pool), {})
    await old_keys.load()
    old_payment_key = old_keys.signing("payment")
    during = await _pending(buyer, showtime, seats[1:2])
    after = await _pending(buyer, showtime, seats[2:3])

    store = SecretStore(db_pool)
    for name in ("payment", "ticket"):
        await store.rotate(name, timedelta(seconds=3))

    async def new_ticket() -> bool:
        return bool((await buyer.booking(paid["reference"]))["ticket"] != old_ticket)
    await eventually(new_ticket)  # the server reloaded: it signs with the new key
    current = (await buyer.booking(paid["reference"]))["ticket"]
    assert await _scan(scanner, old_ticket) == "ok"
    assert (await _webhook(buyer, _captured(during), old_payment_key))[0] == 200
    assert (await buyer.booking(during["reference"]))["status"] == "booked"

    await asyncio.sleep(3.2)  # the grace period ends
    assert await _scan(scanner, old_ticket) == "not_genuine"
    status, answer = await _webhook(buyer, _captured(after), old_payment_key)
    assert (status, answer["error"]["code"]) == (400, "bad_signature")
    assert await _scan(scanner, current) == "ok"
    new_keys = Keyring(SecretStore(db_pool), {})
    await new_keys.load()
    assert (await _webhook(buyer, _captured(after), new_keys.signing("payment")))[0] == 200


async def test_configured_keys_win_over_stored_ones(
        make_server: ServerFactory, buyer_at: BuyerFactory, showtime: int, seats: list[str],
        db_pool: asyncpg.Pool, keys: Keyring) -> None:
    payment, ticket = secrets.token_hex(20), secrets.token_hex(20)
    server = await make_server(payment_secret=payment, ticket_secret=ticket)
    buyer = await buyer_at(str(server.make_url("/")).rstrip("/"))
    booking = await _pending(buyer, showtime, seats[:1])
    status, _ = await _webhook(buyer, _captured(booking), keys.signing("payment"))
    assert status == 400
    assert (await _webhook(buyer, _captured(booking), payment))[0] == 200
    issued = (await buyer.booking(booking["reference"]))["ticket"]
    assert issued == TicketSigner(Keyring.of(ticket=ticket)).issue(booking["reference"])


@pytest.mark.parametrize("value", ["short", "changeme", " " + "k" * 40, "\x00" * 40])
def test_a_weak_configured_key_stops_the_start(value: str) -> None:
    for name in ("SEATSERVER_PAYMENT_SECRET", "SEATSERVER_TICKET_SECRET"):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: value})
    assert Settings.from_env({}).payment_secret is None
