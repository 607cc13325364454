"""Booking events: written by PostgreSQL with the change that makes them true,
delivered beside the seat events of the same showtime, in one order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg

from seatserver.bookings.store import new_reference
from seatserver.http.roles import Role
from seatserver.loadgen.client import SeatClient
from tests.admin.conftest import Admin
from tests.bookings.conftest import Buyer
from tests.support import eventually
from tests.webhooks.conftest import Message, Receiver, in_order, register

ALL = ["seat.held", "seat.released", "seat.expired", "seat.booked", "booking.paid",
       "booking.cancelled", "booking.refunded", "showtime.sold_out"]


async def _buy(buyer: Buyer, showtime: int, seats: list[str]) -> Any:
    async with SeatClient(buyer.http, buyer.base, buyer.token) as client:
        assert (await client.hold(showtime, seats))["ok"] is True
    status, booking = await buyer.checkout(showtime, "k")
    assert status == 201, booking
    await buyer.pay(booking["checkout_url"], "pay")
    return booking


def _kinds(messages: list[Message]) -> list[str]:
    return [m.body["type"] for m in messages]


async def _until(receiver: Receiver, *kinds: str) -> list[Message]:
    """The messages once one of each kind has come."""
    await eventually(lambda: set(kinds) <= set(_kinds(receiver.distinct())), within=10)
    return receiver.distinct()


async def test_a_sale_and_its_cancellation_send_every_event_in_order(
        admin: Admin, receiver: Receiver, buyer_at: Callable[..., Awaitable[Buyer]],
        base_url: str, showtime: int, seats: list[str],
        starts_in: Callable[[timedelta], Awaitable[None]]) -> None:
    await starts_in(timedelta(hours=25))  # a cancel refunds in full
    await register(admin, receiver, ALL, showtime=showtime)
    buyer = await buyer_at(base_url)
    booking = await _buy(buyer, showtime, seats[:2])
    got = await _until(receiver, "booking.paid", "seat.booked")
    # Held (and held again, longer, at checkout) before it was paid for.
    kinds = _kinds(got)
    assert kinds[0] == "seat.held"
    assert kinds.index("booking.paid") > max(i for i, k in enumerate(kinds) if k == "seat.held")
    [paid] = [m.body for m in got if m.body["type"] == "booking.paid"]
    assert paid["data"] == {"booking": booking["reference"], "showtime": showtime,
                            "status": "booked", "amount": booking["total"],
                            "seats": sorted(seats[:2])}
    before = len(got)

    status, _ = await buyer.call("POST", f"/api/bookings/{booking['reference']}/cancel")
    assert status == 200
    got = await _until(receiver, "booking.cancelled", "booking.refunded", "seat.released")
    assert sorted(_kinds(got)[before:]) == ["booking.cancelled", "booking.refunded",
                                            "seat.released"]
    [refunded] = [m.body for m in got if m.body["type"] == "booking.refunded"]
    assert refunded["data"]["refund"] == booking["total"]
    assert refunded["data"]["refunded_total"] == booking["total"]
    [released] = [m.body for m in got if m.body["type"] == "seat.released"]
    assert released["data"]["reason"] == "cancel"
    assert in_order(got) and receiver.forged == []


async def _sold_before(db_pool: asyncpg.Pool, showtime: int, seats: list[str]) -> None:
    """``seats`` sold already, before any endpoint was registered (so with
    no event of their own)."""
    async with db_pool.acquire() as conn, conn.transaction():
        user = await conn.fetchval("INSERT INTO users (kind) VALUES ('guest') RETURNING id")
        booking_id = await conn.fetchval(
            """INSERT INTO bookings (reference, user_id, showtime_id, status, amount,
                                     currency, hold_deadline)
               VALUES ($1, $2, $3, 'booked', 0, 'EUR', now()) RETURNING id""",
            new_reference(), user, showtime)
        await conn.executemany(
            """INSERT INTO booking_seats (booking_id, showtime_id, seat_id, seat_type, amount)
               SELECT $1, $2, seat_id, seat_type, 0 FROM seats s
               JOIN showtimes st ON st.screen_id = s.screen_id
               WHERE st.id = $2 AND s.seat_id = $3""",
            [(booking_id, showtime, seat) for seat in seats])


async def test_the_sale_of_the_last_seat_sends_sold_out_once(
        admin: Admin, receiver: Receiver, buyer_at: Callable[..., Awaitable[Buyer]],
        base_url: str, showtime: int, seats: list[str], db_pool: asyncpg.Pool) -> None:
    await _sold_before(db_pool, showtime, seats[:-2])
    await register(admin, receiver, ["booking.paid", "showtime.sold_out"])
    buyer = await buyer_at(base_url)
    await _buy(buyer, showtime, seats[-2:])
    got = await receiver.wait_for(2)
    assert _kinds(got) == ["booking.paid", "showtime.sold_out"]
    assert got[1].body["data"] == {"showtime": showtime, "seats": len(seats)}


async def test_a_box_office_sale_of_the_last_seats_sends_paid_and_sold_out(
        admin: Admin, as_role: Any, receiver: Receiver, showtime: int, seats: list[str],
        db_pool: asyncpg.Pool) -> None:
    # A counter sale is written paid at once: it is paid all the same, and it
    # may be the sale that sells the show out.
    await _sold_before(db_pool, showtime, seats[:-2])
    await register(admin, receiver, ["booking.paid", "showtime.sold_out"])
    clerk: Admin = await as_role(Role.BOX_OFFICE)
    status, sale = await clerk.call("POST", f"/api/counter/showtimes/{showtime}/sales",
                                    {"seats": seats[-2:], "method": "cash"},
                                    headers={"Idempotency-Key": new_reference()})
    assert status == 201, sale
    got = await receiver.wait_for(2)
    assert _kinds(got) == ["booking.paid", "showtime.sold_out"]
    assert got[0].body["data"] == {"booking": sale["reference"], "showtime": showtime,
                                   "status": "booked", "amount": sale["amount"],
                                   "seats": sorted(seats[-2:])}
    assert got[1].body["data"] == {"showtime": showtime, "seats": len(seats)}
