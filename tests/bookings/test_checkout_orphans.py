"""Checkout checks the orphan rule again: a neighbour's release can leave a
seat alone beside a basket; the buyer is told, and may keep the seats."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import asyncpg
import pytest

from seatserver.loadgen.client import SeatClient
from tests.bookings.conftest import Buyer

BuyerFactory = Callable[..., Awaitable[Buyer]]


@pytest.fixture
async def strict(db_pool: asyncpg.Pool, showtime: int) -> AsyncIterator[int]:
    """The showtime with its orphan rule on (the demo's is off), set back after."""
    await db_pool.execute("UPDATE showtimes SET no_orphans = true WHERE id = $1", showtime)
    try:
        yield showtime
    finally:
        await db_pool.execute("UPDATE showtimes SET no_orphans = false WHERE id = $1", showtime)


@pytest.fixture
async def two_buyers(buyer_at: BuyerFactory, base_url: str, http: aiohttp.ClientSession
                     ) -> AsyncIterator[list[tuple[Buyer, SeatClient]]]:
    pairs = []
    for _ in range(2):
        buyer = await buyer_at(base_url)
        pairs.append((buyer, await SeatClient(http, base_url, buyer.token).connect()))
    yield pairs
    for _, client in pairs:
        await client.close()


async def test_checkout_refuses_a_basket_left_beside_a_lone_seat_unless_accepted(
        strict: int, two_buyers: list[tuple[Buyer, SeatClient]]) -> None:
    (buyer, mine), (_, neighbour) = two_buyers
    assert (await neighbour.hold(strict, ["C1"]))["ok"]
    assert (await mine.hold(strict, ["C2", "C3"]))["ok"]
    assert (await neighbour.release(strict, ["C1"]))["ok"]  # C1 now alone at the row end

    status, body = await buyer.checkout(strict, "k1", ["C2", "C3"])
    assert (status, body["error"]["code"], body["error"]["seats"]) == (409, "would_orphan",
                                                                       ["C1"])
    status, body = await buyer.call(
        "POST", f"/api/showtimes/{strict}/bookings", json={"seats": ["C2", "C3"],
                                                           "accept_orphans": True,
                                                           "email": "a@example.com"},
        headers={"Idempotency-Key": "k2"})
    assert status == 201, body
    assert sorted(s["id"] for s in body["seats"]) == ["C2", "C3"]


async def test_checkout_of_a_basket_leaving_no_lone_seat_goes_through(
        strict: int, two_buyers: list[tuple[Buyer, SeatClient]]) -> None:
    (buyer, mine), _ = two_buyers
    assert (await mine.hold(strict, ["C1", "C2"]))["ok"]
    status, body = await buyer.checkout(strict, "k1")
    assert status == 201, body


@pytest.mark.parametrize("accept", ["yes", 1, None, [True]])
async def test_accept_orphans_must_be_a_boolean(strict: int, buyer_at: BuyerFactory,
                                                base_url: str, accept: Any) -> None:
    buyer = await buyer_at(base_url)
    status, body = await buyer.call("POST", f"/api/showtimes/{strict}/bookings",
                                    json={"accept_orphans": accept},
                                    headers={"Idempotency-Key": "k"})
    assert (status, body["error"]["code"]) == (422, "invalid_input")
