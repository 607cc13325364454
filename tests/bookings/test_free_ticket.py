"""The free-ticket exploit of issue 13: a signed return kept back and opened after
the booking was cancelled and refunded must not book it again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from seatserver.loadgen.client import SeatClient
from tests.bookings.conftest import Buyer
from tests.bookings.test_door import kiosk_session
from tests.support import eventually

BuyerFactory = Callable[..., Awaitable[Buyer]]


@pytest.fixture
async def buyer(buyer_at: BuyerFactory, base_url: str) -> Buyer:
    return await buyer_at(base_url)


async def _booked(buyer: Buyer, reference: str) -> bool:
    return bool((await buyer.booking(reference))["status"] == "booked")


async def test_return_kept_back_after_a_refunded_cancel_does_not_book_again(
        buyer: Buyer, buyer_at: BuyerFactory, base_url: str, showtime: int,
        seats: list[str], db_pool: asyncpg.Pool,
        starts_in: Callable[[timedelta], Awaitable[None]]) -> None:
    await starts_in(timedelta(days=3))  # a full refund
    async with SeatClient(buyer.http, buyer.base, buyer.token) as client:
        assert (await client.hold(showtime, seats[:2]))["ok"] is True
    status, booking = await buyer.checkout(showtime, "free-ticket")
    assert status == 201, booking
    reference = booking["reference"]
    # Pay on the provider's page, but keep the signed return instead of following it.
    async with buyer.http.post(base_url + booking["checkout_url"] + "/pay",
                               allow_redirects=False) as resp:
        assert resp.status == 303
        kept_return = resp.headers["Location"]
    # The provider's webhook books it.
    await eventually(lambda: _booked(buyer, reference), within=10)
    paid = await buyer.booking(reference)
    status, cancelled = await buyer.call("POST", f"/api/bookings/{reference}/cancel")
    assert (status, cancelled["payment"]["status"]) == (200, "refunded"), cancelled

    async with buyer.http.get(kept_return, allow_redirects=False) as resp:
        assert resp.status in (303, 400), await resp.text()

    after: Any = await buyer.booking(reference)
    assert (after["status"], after["attention"], after["ticket"]) == ("cancelled", None, None)
    assert after["payment"]["status"] == "refunded"
    scanner = await buyer_at(base_url, await kiosk_session(db_pool))
    status, scan = await scanner.call("POST", "/api/tickets/admit",
                                      json={"ticket": paid["ticket"], "showtime": showtime})
    assert (status, scan["valid"], scan["result"]) == (200, False, "not_booked")
    async with db_pool.acquire() as conn:
        refunded = await conn.fetchval(
            "SELECT refunded FROM sim_provider_orders WHERE order_id = $1",
            booking["payment"]["order_id"])
        active = await conn.fetchval(
            "SELECT count(*) FROM booking_seats s JOIN bookings b ON b.id = s.booking_id "
            "WHERE b.reference = $1 AND s.active", reference)
    assert (refunded, active) == (booking["total"]["amount"], 0)
