"""The seat map and checkout price through the same function: what is shown is charged."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from seatserver.catalog.admin import CatalogAdminStore
from seatserver.catalog.inputs import PriceOverrideInput
from seatserver.loadgen.client import SeatClient, new_session
from tests.bookings.conftest import Buyer
from tests.catalog.conftest import Venue, local
from tests.realtime import conftest as realtime
from tests.realtime.conftest import ServerFactory

http = realtime.http
settings = realtime.settings
make_server = realtime.make_server


@pytest.fixture
async def base_url(make_server: ServerFactory) -> str:
    server: TestServer = await make_server()
    return str(server.make_url("/")).rstrip("/")


@pytest.mark.parametrize("wall_clock", ["2027-03-26 23:30", "2027-03-27 00:30"])
async def test_checkout_charges_the_prices_the_seat_map_shows(
        venue: Venue, admin: CatalogAdminStore, http: aiohttp.ClientSession, base_url: str,
        wall_clock: str) -> None:
    # Seats chosen for their types, not their arrangement: no orphan rule here.
    show = await venue.show(local(wall_clock), no_orphans=False)
    await admin.set_price_override(show.id, PriceOverrideInput(seat_type="vip", amount=2222))
    buyer = Buyer(http, base_url, await new_session(http, base_url))
    status, seat_map = await buyer.call("GET", f"/api/showtimes/{show.id}")
    assert status == 200
    shown = {s["id"]: s["price"] for s in seat_map["seats"]}
    client = await SeatClient(http, base_url, buyer.token).connect()
    try:
        assert (await client.hold(show.id, ["A1", "A3", "B2"]))["ok"] is True
        status, booking = await buyer.checkout(show.id, "prices-1")
    finally:
        await client.close()

    assert status == 201, booking
    charged: dict[str, Any] = {s["id"]: s["price"] for s in booking["seats"]}
    assert charged == {seat: shown[seat] for seat in ("A1", "A3", "B2")}
    assert charged["B2"] == {"amount": 2222, "currency": "EUR"}
    weekend = wall_clock.endswith("00:30")
    assert charged["A3"]["amount"] == (1200 if weekend else 1000)
    assert booking["total"]["amount"] == sum(p["amount"] for p in charged.values())
