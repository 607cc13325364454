"""Tickets: the signed ticket id, its QR code in the API and on the receipt."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from seatserver.bookings.keys import Keyring
from seatserver.bookings.tickets import TicketSigner, qr_png, qr_svg
from seatserver.loadgen.client import SeatClient
from tests.bookings.conftest import Buyer

BuyerFactory = Callable[..., Awaitable[Buyer]]


@pytest.fixture
async def buyer(buyer_at: BuyerFactory, base_url: str) -> Buyer:
    return await buyer_at(base_url)


async def _booking(buyer: Buyer, showtime: int, seats: list[str], *, pay: bool) -> Any:
    async with SeatClient(buyer.http, buyer.base, buyer.token) as client:
        assert (await client.hold(showtime, seats))["ok"] is True
    status, booking = await buyer.checkout(showtime, "k")
    assert status == 201, booking
    if pay:
        await buyer.pay(booking["checkout_url"], "pay")
    return {**await buyer.booking(booking["reference"]),
            "checkout_url": booking["checkout_url"]}


def test_signed_ticket_id_verifies_and_tampered_ones_do_not() -> None:
    signer = TicketSigner(Keyring.of(ticket="door-secret"))
    ticket = signer.issue("ABCDEFGHJK")
    assert signer.verify(ticket) == "ABCDEFGHJK"
    reference, mac = ticket.split(".")
    flipped = mac[:-1] + ("0" if mac[-1] != "0" else "1")
    for forged in (f"{reference}.{flipped}",          # mac altered
                   f"ABCDEFGHJL.{mac}",                # another booking, same mac
                   TicketSigner(Keyring.of(ticket="other")).issue(reference),  # another key
                   reference, f"{reference}.", f".{mac}", f"{reference}.{mac}0", ""):
        assert signer.verify(forged) is None, forged


def test_qr_code_of_a_ticket_is_svg_and_png() -> None:
    ticket = TicketSigner(Keyring.of(ticket="s")).issue("ABCDEFGHJK")
    inline = qr_svg(ticket)
    assert inline.startswith("<svg") and ticket in inline  # titled with the id
    document = qr_svg(ticket, standalone=True)
    assert document.startswith("<?xml") and 'xmlns="http://www.w3.org/2000/svg"' in document
    assert qr_png(ticket).startswith(b"\x89PNG\r\n\x1a\n")


async def test_booked_booking_shows_its_signed_ticket_as_a_qr_code(
        buyer: Buyer, showtime: int, seats: list[str], keys: Keyring) -> None:
    booking = await _booking(buyer, showtime, seats[:1], pay=True)
    assert TicketSigner(keys).verify(booking["ticket"]) \
        == booking["reference"]
    qr = booking["ticket_qr"]
    async with buyer.http.get(buyer.base + qr["svg"], headers=buyer.auth) as resp:
        assert resp.status == 200 and resp.content_type == "image/svg+xml"
        assert booking["ticket"] in await resp.text()
    async with buyer.http.get(buyer.base + qr["png"], headers=buyer.auth) as resp:
        assert resp.status == 200 and resp.content_type == "image/png"
        assert (await resp.read()).startswith(b"\x89PNG")
    async with buyer.http.get(f"{buyer.base}/bookings/{booking['reference']}",
                              headers=buyer.auth) as resp:
        page = await resp.text()
    assert "<svg" in page and booking["ticket"] in page


async def test_unpaid_booking_has_no_ticket_and_strangers_get_no_qr_code(
        buyer: Buyer, buyer_at: BuyerFactory, base_url: str, showtime: int,
        seats: list[str]) -> None:
    pending = await _booking(buyer, showtime, seats[:1], pay=False)
    assert pending["ticket"] is None and pending["ticket_qr"] is None
    path = f"/api/bookings/{pending['reference']}/ticket.svg"
    assert (await buyer.call("GET", path))[0] == 404
    async with buyer.http.get(f"{base_url}/bookings/{pending['reference']}",
                              headers=buyer.auth) as resp:
        assert "<svg" not in await resp.text()
    await buyer.pay(pending["checkout_url"], "pay")
    assert (await buyer.call("GET", path))[0] == 200
    stranger = await buyer_at(base_url)
    assert (await stranger.call("GET", path))[0] == 404
