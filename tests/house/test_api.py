"""House seats and the box office through the API: admins block and release
seats, box-office staff sell at the counter, buyers online never get a
blocked seat; every input path refuses hostile input with a 4xx naming it."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
from redis.asyncio import Redis

from seatserver import redis_keys
from seatserver.bookings.reconcile import reconcile
from seatserver.bookings.store import BookingStore
from seatserver.holds import HoldEngine
from seatserver.http.roles import Role
from seatserver.loadgen.client import SeatClient
from seatserver.personal.cipher import BOOKINGS_EMAIL
from seatserver.personal.setup import stored_keys
from tests.admin.conftest import Admin, audit_rows
from tests.bookings.conftest import Buyer
from tests.personal_support import cipher_of
from tests.support import eventually

ClientFactory = Callable[..., Awaitable[SeatClient]]


def blocks(showtime: int) -> str:
    return f"/api/admin/showtimes/{showtime}/blocks"


def sales(showtime: int) -> str:
    return f"/api/counter/showtimes/{showtime}/sales"


async def sell(clerk: Admin, showtime: int, seats: list[str], method: str = "cash",
               key: str | None = None, **extra: Any) -> tuple[int, Any]:
    return await clerk.call("POST", sales(showtime), {"seats": seats, "method": method, **extra},
                            headers={"Idempotency-Key": key or secrets.token_hex(8)})


async def raw(caller: Admin, method: str, path: str, data: bytes,
              headers: dict[str, str] | None = None) -> tuple[int, Any]:
    sent = {"Authorization": f"Bearer {caller.bearer}", "Content-Type": "application/json",
            **(headers or {})}
    async with caller.http.request(method, caller.base + path, data=data,
                                   headers=sent) as resp:
        body = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, body


async def test_blocked_seats_are_listed_audited_and_shown_unavailable_to_buyers(
        admin: Admin, showtime: int, seats: list[str], connect: ClientFactory,
        db_pool: asyncpg.Pool) -> None:
    watcher = await connect()
    await watcher.subscribe(showtime)
    body = await admin.ok("POST", blocks(showtime),
                          {"seats": seats[:2], "reason": "press", "note": "  Film  critics "})
    assert [(b["seat"], b["reason"], b["note"]) for b in body["blocks"]] == [
        (s, "press", "Film critics") for s in sorted(seats[:2])]
    listed = await admin.ok("GET", blocks(showtime))
    assert sorted(b["seat"] for b in listed["blocks"]) == sorted(seats[:2])
    assert all(b["blocked_by"] == admin.id for b in listed["blocks"])

    view = watcher.views[showtime]
    await eventually(lambda: view.blocked == set(seats[:2]))
    buyer = await connect()
    await buyer.subscribe(showtime)
    assert buyer.views[showtime].blocked == set(seats[:2])  # the snapshot has them
    ack = await buyer.hold(showtime, [seats[0], seats[5]])
    assert (ack["ok"], ack["code"], ack["seats"]) == (False, "seat_blocked", [seats[0]])

    released = await admin.ok("POST", blocks(showtime) + "/release",
                              {"seats": [seats[0], seats[9]]})
    assert released == {"released": [seats[0]]}
    await eventually(lambda: view.blocked == {seats[1]})
    assert (await buyer.hold(showtime, [seats[0]]))["ok"] is True

    actions = [(r["action"], r.get("after", {}).get("seats")) for r in
               await audit_rows(db_pool, admin.id)]
    assert actions == [("seats.blocked", sorted(seats[:2])), ("seats.unblocked", [seats[0]])]


async def test_blocking_a_seat_held_online_or_sold_is_refused_naming_it(
        admin: Admin, clerk: Admin, showtime: int, seats: list[str],
        connect: ClientFactory) -> None:
    buyer = await connect()
    assert (await buyer.hold(showtime, [seats[0]]))["ok"] is True
    status, sold = await sell(clerk, showtime, [seats[1]])
    assert status == 201, sold
    for seat in seats[:2]:
        message = await admin.refused("POST", blocks(showtime),
                                      {"seats": [seat, seats[2]], "reason": "house"},
                                      409, "seats_unavailable")
        assert seat in message
    assert (await admin.ok("GET", blocks(showtime)))["blocks"] == []  # all or none


async def test_box_office_sells_free_and_blocked_seats_for_cash_recorded_as_such(
        admin: Admin, clerk: Admin, showtime: int, seats: list[str],
        connect: ClientFactory, db_pool: asyncpg.Pool) -> None:
    await admin.ok("POST", blocks(showtime), {"seats": [seats[0]], "reason": "house"})
    watcher = await connect()
    await watcher.subscribe(showtime)
    status, sale = await sell(clerk, showtime, [seats[0], seats[1]], "card_present")
    assert status == 201, sale
    assert (sale["method"], sale["seats"], sale["blocked_sold"]) == (
        "card_present", [seats[0], seats[1]], [seats[0]])
    async with db_pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT b.status, p.provider, p.method, p.status AS paid, p.taken_by, p.amount "
            "FROM bookings b JOIN payments p ON p.booking_id = b.id WHERE b.reference = $1",
            sale["reference"])
        left = await conn.fetchval("SELECT count(*) FROM seat_blocks WHERE showtime_id = $1",
                                   showtime)
    assert dict(row) == {"status": "booked", "provider": "counter", "method": "card_present",
                         "paid": "captured", "taken_by": clerk.id,
                         "amount": sale["amount"]["amount"]}
    assert sale["amount"]["amount"] > 0 and left == 0
    view = watcher.views[showtime]
    await eventually(lambda: {seats[0], seats[1]} <= view.booked)
    assert not view.blocked
    audit = await audit_rows(db_pool, clerk.id)
    assert [(r["action"], r["after"]["method"]) for r in audit] == [
        ("booking.counter_sold", "card_present")]


async def test_counter_refuses_a_seat_held_online_and_the_unique_index_a_second_sale(
        clerk: Admin, showtime: int, seats: list[str], connect: ClientFactory) -> None:
    buyer = await connect()
    assert (await buyer.hold(showtime, [seats[0]]))["ok"] is True
    status, refused = await sell(clerk, showtime, [seats[0], seats[1]])
    assert (status, refused["error"]["code"], refused["error"]["seats"]) == (
        409, "seats_unavailable", [seats[0]])
    status, _ = await sell(clerk, showtime, [seats[1]])
    assert status == 201
    status, again = await sell(clerk, showtime, [seats[1]])
    assert (status, again["error"]["code"]) == (409, "seats_unavailable")
    # The seat the refused sale asked for was let go: an online buyer gets it.
    assert (await buyer.hold(showtime, [seats[2]]))["ok"] is True


async def test_a_replayed_counter_sale_answers_the_first_answer_and_sells_once(
        clerk: Admin, showtime: int, seats: list[str], db_pool: asyncpg.Pool) -> None:
    first = await sell(clerk, showtime, [seats[3]], key="till-1-sale-7")
    again = await sell(clerk, showtime, [seats[3]], key="till-1-sale-7")
    assert first[0] == again[0] == 201 and first[1] == again[1]
    assert clerk.headers.get("Idempotent-Replayed") == "true"
    other = await sell(clerk, showtime, [seats[4]], key="till-1-sale-7")
    assert (other[0], other[1]["error"]["code"]) == (422, "idempotency_mismatch")
    async with db_pool.acquire() as conn:
        count = await conn.fetchval(
            "SELECT count(*) FROM payments WHERE provider = 'counter' AND taken_by = $1",
            clerk.id)
    assert count == 1


async def test_released_seat_can_be_bought_online(
        admin: Admin, clerk: Admin, showtime: int, seats: list[str],
        buyer_at: Callable[..., Awaitable[Buyer]], base_url: str) -> None:
    await admin.ok("POST", blocks(showtime), {"seats": seats[:2], "reason": "broken"})
    released = await clerk.ok("POST", blocks(showtime) + "/release", {"seats": [seats[0]]})
    assert released == {"released": [seats[0]]}
    buyer = await buyer_at(base_url)
    async with SeatClient(buyer.http, buyer.base, buyer.token) as client:
        assert (await client.hold(showtime, [seats[0]]))["ok"] is True
        assert (await client.hold(showtime, [seats[1]]))["code"] == "seat_blocked"
    status, booking = await buyer.checkout(showtime, "k1")
    assert status == 201 and [s["id"] for s in booking["seats"]] == [seats[0]]


@pytest.mark.parametrize(("role", "mfa", "status", "code"), [
    (Role.ANONYMOUS, True, 401, "unauthorized"),
    (Role.GUEST, True, 403, "forbidden"),
    (Role.CUSTOMER, True, 403, "forbidden"),
    (Role.KIOSK, True, 403, "forbidden"),
    (Role.BOX_OFFICE, True, 403, "forbidden"),  # releases and sells, never blocks
    (Role.ADMIN, False, 403, "mfa_enrolment_required"),  # no code proved, none set up
])
async def test_only_admins_with_a_proved_code_block_seats(
        as_role: Any, showtime: int, seats: list[str], role: Role, mfa: bool, status: int,
        code: str) -> None:
    caller = await as_role(role, mfa=mfa)
    await caller.refused("POST", blocks(showtime), {"seats": [seats[0]], "reason": "house"},
                         status, code)


@pytest.mark.parametrize(("role", "mfa", "status", "code"), [
    (Role.ANONYMOUS, True, 401, "unauthorized"),
    (Role.GUEST, True, 403, "forbidden"),
    (Role.CUSTOMER, True, 403, "forbidden"),
    (Role.KIOSK, True, 403, "forbidden"),
    (Role.BOX_OFFICE, False, 403, "mfa_enrolment_required"),
])
async def test_the_counter_needs_box_office_staff_with_a_proved_code(
        as_role: Any, showtime: int, seats: list[str], role: Role, mfa: bool, status: int,
        code: str) -> None:
    caller = await as_role(role, mfa=mfa)
    got, body = await sell(caller, showtime, [seats[0]])
    assert (got, body["error"]["code"]) == (status, code)
    await caller.refused("POST", blocks(showtime) + "/release", {"seats": [seats[0]]},
                         status, code)


BAD_BLOCKS: list[tuple[Any, str]] = [
    ({"seats": [], "reason": "house"}, "seats"),
    ({"seats": ["A1"], "reason": "vip"}, "reason"),
    ({"seats": ["A1"], "reason": "other"}, "note"),
    ({"seats": ["A1"], "reason": "other", "note": "   "}, "note"),
    ({"seats": ["A1", "A1"], "reason": "house"}, "seats"),
    ({"seats": ["A\uff11"], "reason": "house"}, "seats.0"),  # a full-width digit one
    ({"seats": ["A" * 5000], "reason": "house"}, "seats.0"),
    ({"seats": [1], "reason": "house"}, "seats.0"),
    ({"seats": ["A1"] * 501, "reason": "house"}, "seats"),
    ({"seats": ["A1"], "reason": "house", "note": "x" * 201}, "note"),
    ({"seats": ["A1"], "reason": "house", "extra": 1}, "extra"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BLOCKS)
async def test_hostile_block_requests_are_refused_naming_the_field(
        admin: Admin, showtime: int, body: Any, field: str) -> None:
    message = await admin.refused("POST", blocks(showtime), body, 422, "invalid_input")
    assert message.startswith(field), message


BAD_SALES: list[tuple[Any, str]] = [
    ({"seats": ["A1"], "method": "cheque"}, "method"),
    ({"seats": ["A1"]}, "method"),
    ({"seats": [], "method": "cash"}, "seats"),
    ({"seats": ["A1"] * 101, "method": "cash"}, "seats"),
    ({"seats": ["A1"], "method": "cash", "email": "not-an-address"}, "email"),
    ({"seats": ["A1"], "method": "cash", "amount": 0}, "amount"),
]


@pytest.mark.parametrize(("body", "field"), BAD_SALES)
async def test_hostile_counter_sales_are_refused_naming_the_field(
        clerk: Admin, showtime: int, body: Any, field: str) -> None:
    got, answer = await clerk.call("POST", sales(showtime), body,
                                   headers={"Idempotency-Key": secrets.token_hex(8)})
    assert (got, answer["error"]["code"]) == (422, "invalid_input"), answer
    assert answer["error"]["message"].startswith(field), answer


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/api/admin/showtimes/99999999999999999999999/blocks", 404, "unknown_showtime"),
    ("/api/admin/showtimes/١٢/blocks", 400, "bad_request"),
    ("/api/admin/showtimes/0/blocks", 404, "unknown_showtime"),
    ("/api/admin/showtimes/123456789/blocks", 404, "unknown_showtime"),
])
async def test_block_routes_refuse_showtime_ids_no_showtime_has(
        admin: Admin, path: str, status: int, code: str) -> None:
    await admin.refused("POST", path, {"seats": ["A1"], "reason": "house"}, status, code)


async def test_unknown_seats_and_bodies_that_are_not_json_are_refused(
        admin: Admin, clerk: Admin, showtime: int) -> None:
    message = await admin.refused("POST", blocks(showtime),
                                  {"seats": ["ZZ99"], "reason": "house"}, 422, "unknown_seat")
    assert "ZZ99" in message
    got, body = await sell(clerk, showtime, ["ZZ99"])
    assert (got, body["error"]["code"], body["error"]["seats"]) == (422, "unknown_seat",
                                                                     ["ZZ99"])
    for data in (b"\x00", b"[1]", b'{"seats": ["A1"], "reason": "house"', b"\xff\xfe"):
        got, body = await raw(admin, "POST", blocks(showtime), data)
        assert (got, body["error"]["code"]) == (400, "bad_request"), data
    # A number past 64 bits is no JSON we read; one within them is no note.
    got, body = await raw(admin, "POST", blocks(showtime),
                          b'{"seats": ["A1"], "reason": "house", "note": ' + b"9" * 5000 + b"}")
    assert (got, body["error"]["code"]) == (400, "bad_request")
    got, body = await raw(admin, "POST", blocks(showtime), orjson.dumps(
        {"seats": ["A1"], "reason": "house", "note": 2**63 - 1}))
    assert (got, body["error"]["code"]) == (422, "invalid_input")
    assert body["error"]["message"].startswith("note")


@pytest.mark.parametrize("body", [
    {"seats": ["A\x001"], "reason": "house"},
    {"seats": ["A1"], "reason": "house", "note": "bad\x00note"},
    {"seats": ["A\x00"], "method": "cash"},
])
async def test_nul_characters_are_refused_before_anything_reads_them(
        admin: Admin, clerk: Admin, showtime: int, body: Any) -> None:
    caller, path = (clerk, sales(showtime)) if "method" in body else (admin, blocks(showtime))
    got, answer = await caller.call("POST", path, body,
                                    headers={"Idempotency-Key": secrets.token_hex(8)})
    assert (got, answer["error"]["code"]) == (400, "bad_request")
    assert "NUL" in answer["error"]["message"]


async def test_counter_sale_needs_an_idempotency_key(clerk: Admin, showtime: int) -> None:
    for key in ("", "x" * 256, "tab\tkey", "ключ"):
        got, body = await clerk.call("POST", sales(showtime),
                                     {"seats": ["A1"], "method": "cash"},
                                     headers={"Idempotency-Key": key} if key else {})
        assert (got, body["error"]["code"]) == (400, "bad_request")
        assert body["error"]["message"].startswith("Idempotency-Key")


async def test_admins_give_and_take_the_box_office_role(
        admin: Admin, as_role: Any, db_pool: asyncpg.Pool, http: aiohttp.ClientSession
        ) -> None:
    customer = await as_role(Role.CUSTOMER)
    body = await admin.ok("PATCH", f"/api/admin/staff/{customer.id}", {"kind": "box_office"})
    assert body["kind"] == "box_office"
    staff = await admin.ok("GET", "/api/admin/staff")
    assert customer.id in [m["id"] for m in staff["staff"] if m["kind"] == "box_office"]
    await admin.ok("PATCH", f"/api/admin/staff/{customer.id}", {"kind": "customer"})
    actions = [r["action"] for r in await audit_rows(db_pool, admin.id)]
    assert actions == ["staff.changed", "staff.changed"]


async def test_support_cancels_a_counter_sale_refunding_at_the_counter_and_frees_the_seat(
        admin: Admin, clerk: Admin, showtime: int, seats: list[str], connect: ClientFactory,
        db_pool: asyncpg.Pool) -> None:
    status, sale = await sell(clerk, showtime, [seats[6]])
    assert status == 201
    cancelled = await admin.ok("POST", f"/api/admin/bookings/{sale['reference']}/cancel",
                               {"reason": "changed their mind at the counter",
                                "refund": sale["amount"]["amount"]})
    assert cancelled["status"] == "cancelled"
    async with db_pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT p.refunded_amount, p.method FROM payments p JOIN bookings b "
            "ON b.id = p.booking_id WHERE b.reference = $1", sale["reference"])
    assert dict(row) == {"refunded_amount": sale["amount"]["amount"], "method": "cash"}
    buyer = await connect()
    assert (await buyer.hold(showtime, [seats[6]]))["ok"] is True


async def test_kiosk_summaries_count_blocked_seats_apart_from_free(
        admin: Admin, showtime: int, seats: list[str], connect: ClientFactory) -> None:
    board = await connect()
    await board.subscribe(showtime, view="summary")
    view = board.views[showtime]
    await eventually(lambda: view.summary is not None)
    assert view.summary is not None
    free_before = sum(view.summary["free"].values())
    await admin.ok("POST", blocks(showtime), {"seats": seats[:3], "reason": "house"})
    await eventually(lambda: view.summary is not None
                     and sum(view.summary["blocked"].values()) == 3)
    assert sum(view.summary["free"].values()) == free_before - 3


async def test_blocks_come_back_when_redis_lost_them_and_holds_taken_meanwhile_end(
        admin: Admin, showtime: int, seats: list[str], connect: ClientFactory,
        db_pool: asyncpg.Pool, redis_url: str) -> None:
    await admin.ok("POST", blocks(showtime), {"seats": [seats[0]], "reason": "broken"})
    redis = Redis.from_url(redis_url)
    engine = HoldEngine(redis, hold_ttl_ms=60_000, max_seats=10, stream_maxlen=1000,
                        backstop_ms=1000)
    try:
        await redis.delete(redis_keys.blocked(showtime))  # as a flushed Redis would
        buyer = await connect()
        assert (await buyer.hold(showtime, [seats[0]]))["ok"] is True
        done = await reconcile(BookingStore(db_pool, await stored_keys(db_pool)), engine)
        assert done.blocked == 1 and "1 blocked seats restored" in str(done)
        snap = await engine.snapshot(showtime)
        assert snap.blocked == [seats[0]] and seats[0] not in snap.held
        again = await reconcile(BookingStore(db_pool, await stored_keys(db_pool)), engine)
        assert again.blocked == 0  # idempotent
    finally:
        await engine.close()
        await redis.aclose()


async def test_no_blocked_seat_is_ever_held_while_buyers_click_during_blocking(
        admin: Admin, showtime: int, seats: list[str], connect: ClientFactory) -> None:
    """Buyers hold and release the same ten seats as fast as the server lets
    them while the admin blocks those seats: a block is refused while a seat
    is held, and retried; once all are blocked, no buyer holds one, and every
    buyer's view shows all ten blocked."""
    wanted = seats[:10]
    buyers = [await connect() for _ in range(3)]
    for buyer in buyers:
        await buyer.subscribe(showtime)
    stop = asyncio.Event()
    refused_blocked = 0

    async def click(buyer: SeatClient) -> None:
        nonlocal refused_blocked
        while not stop.is_set():
            for seat in wanted:
                ack = await buyer.hold(showtime, [seat])
                if ack["ok"]:
                    await buyer.release(showtime, [seat])
                elif ack["code"] == "seat_blocked":
                    refused_blocked += 1

    clicking = [asyncio.create_task(click(b)) for b in buyers]
    left = list(wanted)
    try:
        while left:
            got, body = await admin.call("POST", blocks(showtime),
                                         {"seats": left, "reason": "house"})
            if got == 200:
                left = []
            else:
                assert (got, body["error"]["code"]) == (409, "seats_unavailable")
                # Block what is free now; the held ones on the next turn.
                for seat in [s for s in left if s not in body["error"]["seats"]]:
                    one, _ = await admin.call("POST", blocks(showtime),
                                              {"seats": [seat], "reason": "house"})
                    if one == 200:
                        left.remove(seat)
    finally:
        stop.set()
        await asyncio.gather(*clicking)
    for buyer in buyers:
        view = buyer.views[showtime]
        await eventually(lambda v=view: v.blocked >= set(wanted))
        assert not view.mine.keys() & set(wanted)
        assert not view.held & set(wanted)
    assert refused_blocked > 0


async def test_blocking_again_changes_the_reason_and_other_needs_a_note(
        admin: Admin, showtime: int, seats: list[str], db_pool: asyncpg.Pool) -> None:
    await admin.ok("POST", blocks(showtime), {"seats": [seats[0]], "reason": "house"})
    body = await admin.ok("POST", blocks(showtime), {"seats": [seats[0]], "reason": "other",
                                                     "note": "Director's family"})
    assert [(b["seat"], b["reason"], b["note"]) for b in body["blocks"]] == [
        (seats[0], "other", "Director's family")]
    audit = await audit_rows(db_pool, admin.id)
    assert audit[-1]["before"] == [{"seat_id": seats[0], "reason": "house", "note": None}]


async def test_a_counter_sale_with_an_address_sends_the_tickets_and_none_after_the_start(
        clerk: Admin, showtime: int, seats: list[str], db_pool: asyncpg.Pool,
        starts_in: Callable[[timedelta], Awaitable[None]]) -> None:
    status, sale = await sell(clerk, showtime, [seats[7]], "cash", email="film@example.com")
    assert status == 201
    async with db_pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT b.contact_email, b.contact_email_sealed, o.kind FROM bookings b JOIN outbox o "
            "ON o.payload::jsonb ->> 'reference' = b.reference WHERE b.reference = $1",
            sale["reference"])
    # Sealed at rest like an online buyer's address (docs/security.md).
    assert (row["contact_email"], row["kind"]) == (None, "booking_confirmed")
    cipher = await cipher_of(db_pool)
    assert cipher.open(row["contact_email_sealed"], BOOKINGS_EMAIL,
                       sale["reference"]) == "film@example.com"
    await starts_in(timedelta(minutes=-5))
    status, late = await sell(clerk, showtime, [seats[8]])
    assert (status, late["error"]["code"]) == (409, "sales_closed")
