"""The payment provider failing at checkout: nothing charged, nothing booked,
the buyer's holds as they were, and an answer that says "try again"."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from seatserver.bookings.checkout import Checkout
from seatserver.bookings.gateway import Order, PaymentEvent
from seatserver.bookings.refunds import RefundPolicy
from seatserver.bookings.simulated import SimulatedGateway
from seatserver.bookings.store import BookingStore
from seatserver.catalog.store import CatalogStore
from seatserver.errors import PaymentUnavailable
from seatserver.holds import HoldEngine
from seatserver.loadgen.client import SeatClient
from seatserver.personal.setup import stored_keys
from tests.bookings.conftest import Buyer


class BrokenGateway:
    """A PaymentGateway whose provider is down (``fail``) or hangs (``hang``)
    until told otherwise; then it creates orders like any provider."""

    name = "broken"

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.orders: list[str] = []

    async def create_order(self, *, reference: str, amount: int, currency: str,
                           return_url: str, webhook_url: str, expires_at: datetime) -> Order:
        if self.mode == "fail":
            raise ConnectionError("provider unreachable")
        if self.mode == "hang":
            await asyncio.sleep(3600)
        self.orders.append(reference)
        return Order(f"ord_{reference}", f"/pay/ord_{reference}")

    async def verify_return(self, query: Mapping[str, str]) -> PaymentEvent | None:
        raise NotImplementedError

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> PaymentEvent | None:
        raise NotImplementedError

    async def lookup(self, order_id: str, *, close: bool) -> PaymentEvent | None:
        return None

    async def capture(self, order_id: str) -> None:
        pass

    async def refund(self, order_id: str, amount: int) -> None:
        pass


@pytest.fixture
async def engine(redis_url: str) -> AsyncIterator[HoldEngine]:
    redis = Redis.from_url(redis_url)
    engine = HoldEngine(redis, hold_ttl_ms=60_000, max_seats=4, stream_maxlen=1000,
                        backstop_ms=1000)
    yield engine
    await engine.close()
    await redis.aclose()


async def _checkout(db_pool: asyncpg.Pool, engine: HoldEngine, gateway: BrokenGateway
                    ) -> Checkout:
    return Checkout(BookingStore(db_pool, await stored_keys(db_pool)), engine,
                    CatalogStore(db_pool), {"broken": gateway},
                    default_gateway="broken", sales_close=timedelta(minutes=10),
                    payment_window=timedelta(minutes=10), payment_timeout_s=0.3,
                    public_url="http://shop.example",
                    refunds=RefundPolicy(timedelta(hours=24), timedelta(hours=2), 50))


@pytest.mark.parametrize("mode", ["fail", "hang"])
async def test_provider_failing_at_checkout_gives_the_holds_back_and_books_nothing(
        db_pool: asyncpg.Pool, engine: HoldEngine, showtime: int, mode: str) -> None:
    user = await _user(db_pool)
    held = await engine.hold(showtime, str(user), ["B1", "B2"])
    gateway = BrokenGateway(mode)
    checkout = await _checkout(db_pool, engine, gateway)

    with pytest.raises(PaymentUnavailable) as refused:
        await checkout.start(user_id=user, showtime=showtime, seats=None,
                             remote="192.0.2.7")
    assert refused.value.status == 503

    # The holds are the buyer's still, on the deadline they had: not released,
    # not stretched to a payment window no payment will use.
    mine = (await engine.snapshot(showtime, str(user))).mine
    assert set(mine) == {"B1", "B2"}
    assert all(abs(due - held.expires_at) < 100 for due in mine.values())
    async with db_pool.acquire() as conn:
        rows = await conn.fetch("SELECT status FROM bookings WHERE user_id = $1", user)
        active = await conn.fetchval(
            "SELECT count(*) FROM booking_seats WHERE showtime_id = $1 AND active", showtime)
        audit = await conn.fetchval(
            "SELECT detail->>'reason' FROM audit_log WHERE action = 'booking.expired'")
    assert [r["status"] for r in rows] == ["expired"] and active == 0
    assert audit == "payment order not created"

    gateway.mode = "ok"  # the provider is back: the same holds check out
    booking, url = await checkout.start(user_id=user, showtime=showtime, seats=None,
                                        remote=None)
    assert booking.status == "pending" and booking.seat_ids == ["B1", "B2"]
    assert url == f"/pay/ord_{booking.reference}"


async def _user(db_pool: asyncpg.Pool) -> int:
    async with db_pool.acquire() as conn:
        user: int = await conn.fetchval("INSERT INTO users DEFAULT VALUES RETURNING id")
    return user


async def test_checkout_answers_payment_unavailable_and_the_same_key_retries(
        buyer_at: Any, base_url: str, showtime: int, seats: list[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    buyer: Buyer = await buyer_at(base_url)
    async with SeatClient(buyer.http, buyer.base, buyer.token) as client:
        assert (await client.hold(showtime, seats[:2]))["ok"] is True

        async def down(*args: Any, **kwargs: Any) -> Order:
            raise ConnectionError("provider unreachable")

        with monkeypatch.context() as patch:
            patch.setattr(SimulatedGateway, "create_order", down)
            status, body = await buyer.checkout(showtime, "retry-me")
        assert (status, body["error"]["code"]) == (503, "payment_unavailable")
        async with SeatClient(buyer.http, buyer.base, buyer.token) as fresh:
            await fresh.subscribe(showtime)
            assert set(fresh.views[showtime].mine) == set(seats[:2])  # still theirs

        # Not saved under the key: the retry runs, and works now.
        status, booking = await buyer.checkout(showtime, "retry-me")
        assert status == 201 and booking["status"] == "pending"
        assert sorted(s["id"] for s in booking["seats"]) == sorted(seats[:2])
