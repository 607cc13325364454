"""Cancellation refunds: the policy at its boundaries, and partial refunds end to end."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from seatserver.bookings.refunds import RefundPolicy
from seatserver.bookings.simulated import SimulatedGateway
from seatserver.loadgen.client import SeatClient
from tests.bookings.conftest import Buyer

BuyerFactory = Callable[..., Awaitable[Buyer]]
START = datetime(2030, 6, 1, 20, 0, tzinfo=UTC)
POLICY = RefundPolicy(full_before=timedelta(hours=24), cutoff=timedelta(hours=2),
                      partial_percent=50)
TICK = timedelta(microseconds=1)


@pytest.mark.parametrize(("before_start", "refund"), [
    (timedelta(days=30), 1255),
    (timedelta(hours=24) + TICK, 1255),        # the last moment of the full refund
    (timedelta(hours=24), 627),                # 50 %, rounded down to the cent
    (timedelta(hours=2) + TICK, 627),          # the last moment one may cancel
    (timedelta(hours=2), None),                # the cut-off: refused
    (timedelta(0), None),
    (-timedelta(hours=1), None),               # the show has started
])
def test_refund_policy_at_its_boundaries(before_start: timedelta, refund: int | None) -> None:
    assert POLICY.refund(1255, starts_at=START, now=START - before_start) == refund


def test_cut_off_before_the_full_refund_ends_leaves_no_partial_band() -> None:
    policy = RefundPolicy(full_before=timedelta(hours=1), cutoff=timedelta(hours=2),
                          partial_percent=50)
    assert policy.refund(1000, starts_at=START, now=START - timedelta(hours=2, seconds=1)) \
        == 1000
    assert policy.refund(1000, starts_at=START, now=START - timedelta(hours=2)) is None


@pytest.fixture
async def buyer(buyer_at: BuyerFactory, base_url: str) -> Buyer:
    return await buyer_at(base_url)


async def _paid(buyer: Buyer, showtime: int, seats: list[str]) -> Any:
    async with SeatClient(buyer.http, buyer.base, buyer.token) as client:
        assert (await client.hold(showtime, seats))["ok"] is True
    status, booking = await buyer.checkout(showtime, "k")
    assert status == 201, booking
    await buyer.pay(booking["checkout_url"], "pay")
    return booking


async def _provider_refunded(db_pool: asyncpg.Pool, booking: Any) -> int:
    async with db_pool.acquire() as conn:
        refunded: int = await conn.fetchval(
            "SELECT refunded FROM sim_provider_orders WHERE order_id = $1",
            booking["payment"]["order_id"])
    return refunded


async def test_cancel_a_day_ahead_refunds_in_full(
        buyer: Buyer, showtime: int, seats: list[str], db_pool: asyncpg.Pool,
        starts_in: Callable[[timedelta], Awaitable[None]]) -> None:
    await starts_in(timedelta(hours=25))
    booking = await _paid(buyer, showtime, seats[:2])
    status, cancelled = await buyer.call("POST",
                                         f"/api/bookings/{booking['reference']}/cancel")
    assert status == 200 and cancelled["payment"]["status"] == "refunded"
    assert cancelled["payment"]["refunded"]["amount"] == booking["total"]["amount"]
    await _eventually_refunded(db_pool, booking, booking["total"]["amount"])


async def test_cancel_within_a_day_refunds_half_through_the_gateway(
        buyer: Buyer, showtime: int, seats: list[str], db_pool: asyncpg.Pool,
        starts_in: Callable[[timedelta], Awaitable[None]]) -> None:
    await starts_in(timedelta(hours=23))
    booking = await _paid(buyer, showtime, seats[:2])
    half = booking["total"]["amount"] * 50 // 100
    # Two cancels racing: one wins, and the provider refunds half once, not twice.
    results = await asyncio.gather(*(
        buyer.call("POST", f"/api/bookings/{booking['reference']}/cancel")
        for _ in range(2)))
    wins = [body for status, body in results if status == 200]
    assert len(wins) == 1, results
    assert all(body["error"]["code"] == "cancel_closed"
               for status, body in results if status != 200)
    assert wins[0]["status"] == "cancelled"
    assert wins[0]["payment"]["status"] == "partially_refunded"
    assert wins[0]["payment"]["refunded"]["amount"] == half
    await _eventually_refunded(db_pool, booking, half)
    await asyncio.sleep(0.2)  # nothing more arrives
    assert await _provider_refunded(db_pool, booking) == half


async def test_cancel_inside_the_cut_off_is_refused_and_refunds_nothing(
        buyer: Buyer, showtime: int, seats: list[str], db_pool: asyncpg.Pool,
        starts_in: Callable[[timedelta], Awaitable[None]]) -> None:
    await starts_in(timedelta(hours=3))
    booking = await _paid(buyer, showtime, seats[:1])
    await starts_in(timedelta(hours=2) - timedelta(seconds=5))
    status, body = await buyer.call("POST", f"/api/bookings/{booking['reference']}/cancel")
    assert (status, body["error"]["code"]) == (409, "cancel_closed")
    after = await buyer.booking(booking["reference"])
    assert after["status"] == "booked" and after["payment"]["status"] == "captured"
    assert await _provider_refunded(db_pool, booking) == 0


async def _eventually_refunded(db_pool: asyncpg.Pool, booking: Any, amount: int) -> None:
    for _ in range(200):
        if await _provider_refunded(db_pool, booking) == amount:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the provider never refunded {amount}")


async def test_cancel_while_the_provider_cannot_refund_changes_nothing_and_may_be_retried(
        buyer: Buyer, showtime: int, seats: list[str], db_pool: asyncpg.Pool,
        starts_in: Callable[[timedelta], Awaitable[None]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    await starts_in(timedelta(days=3))
    booking = await _paid(buyer, showtime, seats[:1])

    async def refused(*args: Any) -> None:
        raise OSError("provider unreachable")

    with monkeypatch.context() as patch:
        patch.setattr(SimulatedGateway, "refund", refused)
        status, body = await buyer.call("POST",
                                        f"/api/bookings/{booking['reference']}/cancel")
    assert (status, body["error"]["code"]) == (503, "payment_unavailable")
    after = await buyer.booking(booking["reference"])
    assert after["status"] == "booked" and after["payment"]["status"] == "captured"

    status, cancelled = await buyer.call("POST", f"/api/bookings/{booking['reference']}/cancel")
    assert status == 200 and cancelled["payment"]["status"] == "refunded"
    await _eventually_refunded(db_pool, booking, booking["total"]["amount"])
