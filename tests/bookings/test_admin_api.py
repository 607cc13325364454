"""Support's side of bookings: look-up, cancelling past the buyer's cut-off with
a chosen refund, what needs attention, and dead outbox messages put back."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta

import aiohttp
import asyncpg
import orjson
import pytest

from seatserver.accounts.sessions import token_hash
from seatserver.http.roles import Role
from tests.admin.conftest import Admin, audit_rows, session_of
from tests.bookings.conftest import REFUND_REAUTH_ABOVE, Buyer
from tests.bookings.test_refunds import _eventually_refunded, _paid, _provider_refunded
from tests.personal_support import set_email

BuyerFactory = Callable[..., Awaitable[Buyer]]
StartsIn = Callable[[timedelta], Awaitable[None]]


@pytest.fixture
async def buyer(buyer_at: BuyerFactory, base_url: str) -> Buyer:
    return await buyer_at(base_url)


@pytest.fixture
async def admin(http: aiohttp.ClientSession, base_url: str, db_pool: asyncpg.Pool) -> Admin:
    made = await session_of(db_pool, Role.ADMIN)
    assert made is not None
    caller = Admin(http, base_url)
    caller.id, caller.bearer = made
    return caller


async def buyer_id(db_pool: asyncpg.Pool, reference: str) -> int:
    async with db_pool.acquire() as conn:
        user_id: int = await conn.fetchval(
            "SELECT user_id FROM bookings WHERE reference = $1", reference)
    return user_id


async def test_admin_finds_a_booking_by_reference_buyer_email_user_and_showtime(
        admin: Admin, buyer: Buyer, showtime: int, seats: list[str],
        db_pool: asyncpg.Pool) -> None:
    booking = await _paid(buyer, showtime, seats[:2])
    reference = booking["reference"]
    user_id = await buyer_id(db_pool, reference)
    email = f"Buyer-{secrets.token_hex(4)}@Example.com"
    async with db_pool.acquire() as conn:  # the guest signed up meanwhile
        await conn.execute("UPDATE users SET kind = 'customer', email = $2, password_hash = "
                           "'$argon2id$not-a-real-hash' WHERE id = $1", user_id, email)
    await set_email(db_pool, user_id, email)

    for query in (f"reference={reference}", f"email={email.lower()}", f"user_id={user_id}",
                  f"showtime={showtime}&user_id={user_id}"):
        found = (await admin.ok("GET", f"/api/admin/bookings?{query}"))["bookings"]
        assert [b["reference"] for b in found] == [reference], query
        assert found[0]["user_id"] == user_id and found[0]["status"] == "booked"
    assert (await admin.ok("GET", "/api/admin/bookings?user_id=999999999"))["bookings"] == []


@pytest.mark.parametrize("query", ["", "?user_id=abc", "?reference=lower", "?colour=red",
                                   "?email=no-at-sign"])
async def test_a_search_without_a_usable_criterion_is_invalid_input(
        admin: Admin, query: str) -> None:
    await admin.refused("GET", f"/api/admin/bookings{query}", None, 422, "invalid_input")


async def test_admin_cancels_inside_the_cut_off_refunds_in_full_and_the_audit_says_so(
        admin: Admin, buyer: Buyer, showtime: int, seats: list[str], db_pool: asyncpg.Pool,
        starts_in: StartsIn) -> None:
    await starts_in(timedelta(hours=3))
    booking = await _paid(buyer, showtime, seats[:2])
    await starts_in(timedelta(minutes=30))  # the buyer may no longer cancel
    status, _ = await buyer.call("POST", f"/api/bookings/{booking['reference']}/cancel")
    assert status == 409
    total = booking["total"]["amount"]

    cancelled = await admin.ok("POST", f"/api/admin/bookings/{booking['reference']}/cancel",
                               {"reason": "projector broke", "refund": total})
    assert cancelled["status"] == "cancelled"
    assert cancelled["payment"]["refunded"]["amount"] == total
    await _eventually_refunded(db_pool, booking, total)

    row = (await audit_rows(db_pool, admin.id))[-1]
    assert row["action"] == "booking.cancelled" and row["remote"] == "127.0.0.1"
    assert row["by_admin"] is True and row["bypassed_cutoff"] is True
    assert row["policy_refund"] is None and row["reason"] == "projector broke"
    assert (row["before"]["status"], row["after"]["status"]) == ("booked", "cancelled")
    assert row["refund"] == total


async def test_admin_cancel_without_an_amount_refunds_what_the_policy_gives(
        admin: Admin, buyer: Buyer, showtime: int, seats: list[str], db_pool: asyncpg.Pool,
        starts_in: StartsIn) -> None:
    await starts_in(timedelta(hours=23))
    booking = await _paid(buyer, showtime, seats[:1])
    cancelled = await admin.ok("POST", f"/api/admin/bookings/{booking['reference']}/cancel",
                               {"reason": "asked by phone"})
    half = booking["total"]["amount"] * 50 // 100
    assert cancelled["payment"]["refunded"]["amount"] == half
    row = (await audit_rows(db_pool, admin.id))[-1]
    assert (row["policy_refund"], row["bypassed_cutoff"]) == (half, False)
    await admin.refused("POST", f"/api/admin/bookings/{booking['reference']}/cancel",
                        {"reason": "again"}, 409, "cancel_closed")


async def test_a_refund_above_the_limit_needs_a_recent_code_and_a_smaller_one_does_not(
        admin: Admin, buyer: Buyer, buyer_at: BuyerFactory, base_url: str, showtime: int,
        seats: list[str], db_pool: asyncpg.Pool) -> None:
    large = await _paid(buyer, showtime, seats[:1])
    small = await _paid(await buyer_at(base_url), showtime, seats[1:2])
    assert large["total"]["amount"] > REFUND_REAUTH_ABOVE

    async def code_proved(minutes_ago: int) -> None:
        async with db_pool.acquire() as conn:
            await conn.execute("UPDATE sessions SET mfa_at = now() - $2::interval "
                               "WHERE token_hash = $1", token_hash(admin.bearer or ""),
                               timedelta(minutes=minutes_ago))

    await code_proved(6)
    await admin.refused("POST", f"/api/admin/bookings/{large['reference']}/cancel",
                        {"reason": "x", "refund": REFUND_REAUTH_ABOVE + 1}, 403,
                        "reauth_required")
    assert (await buyer.booking(large["reference"]))["status"] == "booked"
    assert await _provider_refunded(db_pool, large) == 0
    await admin.ok("POST", f"/api/admin/bookings/{small['reference']}/cancel",
                   {"reason": "x", "refund": REFUND_REAUTH_ABOVE})
    await code_proved(4)
    cancelled = await admin.ok("POST", f"/api/admin/bookings/{large['reference']}/cancel",
                               {"reason": "x", "refund": REFUND_REAUTH_ABOVE + 1})
    assert cancelled["status"] == "cancelled"


async def test_admin_cancel_refuses_a_refund_above_the_total_and_changes_nothing(
        admin: Admin, buyer: Buyer, showtime: int, seats: list[str],
        db_pool: asyncpg.Pool) -> None:
    booking = await _paid(buyer, showtime, seats[:1])
    path = f"/api/admin/bookings/{booking['reference']}/cancel"
    message = await admin.refused("POST", path, {"reason": "x",
                                                 "refund": booking["total"]["amount"] + 1},
                                  422, "invalid_input")
    assert message.startswith("refund:")
    await admin.refused("POST", path, {"refund": 0}, 422, "invalid_input")  # no reason
    await admin.refused("POST", "/api/admin/bookings/ZZZZZZZZZZ/cancel", {"reason": "x"},
                        404, "not_found")
    assert (await buyer.booking(booking["reference"]))["status"] == "booked"
    assert await _provider_refunded(db_pool, booking) == 0
    assert await audit_rows(db_pool, admin.id) == []


async def test_bookings_flagged_for_attention_are_listed(
        admin: Admin, buyer: Buyer, showtime: int, seats: list[str],
        db_pool: asyncpg.Pool) -> None:
    booking = await _paid(buyer, showtime, seats[:1])
    assert (await admin.ok("GET", "/api/admin/bookings/attention"))["bookings"] == []
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE bookings SET attention = 'late_payment_refunded' "
                           "WHERE reference = $1", booking["reference"])
    listed = (await admin.ok("GET", "/api/admin/bookings/attention"))["bookings"]
    assert [(b["reference"], b["attention"]) for b in listed] == [
        (booking["reference"], "late_payment_refunded")]


async def test_a_dead_outbox_message_is_listed_requeued_once_and_audited(
        admin: Admin, db_pool: asyncpg.Pool) -> None:
    async with db_pool.acquire() as conn:
        dead_id = await conn.fetchval(
            """INSERT INTO outbox (kind, payload, attempts, last_error, dead_at,
                                   next_attempt_at)
               VALUES ('booking_confirmed', $1::jsonb, 8, 'mail server said no', now(),
                       now() + interval '1 day') RETURNING id""",
            orjson.dumps({"reference": "ABCDEFGHJK"}).decode())
    dead = (await admin.ok("GET", "/api/admin/outbox/dead"))["messages"]
    assert [(m["id"], m["last_error"]) for m in dead] == [(dead_id, "mail server said no")]

    answer = await admin.ok("POST", "/api/admin/outbox/requeue", {"ids": [dead_id, 999999]})
    assert answer == {"requeued": [dead_id]}
    await admin.refused("POST", "/api/admin/outbox/requeue", {"ids": [999999]}, 404,
                        "not_found")
    await admin.refused("POST", "/api/admin/outbox/requeue", {"ids": []}, 422,
                        "invalid_input")
    row = (await audit_rows(db_pool, admin.id))[-1]
    assert row["action"] == "outbox.requeued" and row["after"] == {"requeued": [dead_id]}
    assert [m["id"] for m in row["before"]] == [dead_id]


@pytest.mark.parametrize("role", [Role.ANONYMOUS, Role.GUEST, Role.CUSTOMER, Role.KIOSK])
async def test_only_admins_may_look_up_or_cancel_bookings(
        http: aiohttp.ClientSession, base_url: str, db_pool: asyncpg.Pool,
        role: Role) -> None:
    made = await session_of(db_pool, role)
    caller = Admin(http, base_url)
    caller.bearer = made[1] if made else None
    for method, path, body in (
            ("GET", "/api/admin/bookings?reference=ABCDEFGHJK", None),
            ("GET", "/api/admin/bookings/attention", None),
            ("POST", "/api/admin/bookings/ABCDEFGHJK/cancel", {"reason": "x"}),
            ("GET", "/api/admin/outbox/dead", None),
            ("POST", "/api/admin/outbox/requeue", {"ids": [1]})):
        status, _ = await caller.call(method, path, body)
        assert status == (401 if role is Role.ANONYMOUS else 403), (method, path, status)


async def test_a_layout_change_that_would_drop_sold_seats_names_them(
        admin: Admin, buyer: Buyer, showtime: int, seats: list[str]) -> None:
    await _paid(buyer, showtime, seats[:1])
    detail = await admin.ok("GET", f"/api/showtimes/{showtime}")
    sold_row = next(s["row"] for s in detail["seats"] if s["id"] == seats[0])
    screen = await admin.ok("GET", f"/api/admin/screens/{detail['screen']['id']}")
    rows = [row for row in screen["layout"]["rows"] if row["row"] != sold_row]

    status, body = await admin.call("PUT", f"/api/admin/screens/{screen['id']}", {
        "theater_id": detail["theater"]["id"], "name": screen["name"],
        "layout": {**screen["layout"], "rows": rows}})

    assert (status, body["error"]["code"], body["error"]["seats"]) == (409, "in_use", seats[:1])
