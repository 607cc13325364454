"""Data rights: the export holds everything about the caller, erasure keeps
the accounting and removes the person, the admin erases on request; every
input refused with a clear 4xx."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import asyncpg
import pytest

from seatserver.http.roles import Role
from seatserver.loadgen.client import SeatClient, new_session
from tests.accounts.conftest import PASSWORD, Visitor, VisitorFactory, new_email
from tests.accounts.mfa_support import code, enrol_in_database, new_staff
from tests.admin.conftest import Admin, audit_rows
from tests.personal_support import user_id_of
from tests.privacy.conftest import EXPORT_LIMIT
from tests.reviews.conftest import Film
from tests.support import eventually

Make = Any

# Every table with a user_id column, and where the export shows it: a new
# table about users must be added to the export (or here, saying why not).
USER_TABLES = {
    "account_tokens": "pending_email_changes",
    "bookings": "bookings",
    "idempotency_keys": "idempotency_keys",
    "mfa_recovery_codes": None,  # hashes of one-time codes: nothing to read
    "reviews": "reviews",
    "sessions": "sessions",
    "staff_mfa": None,  # the second factor's secret: shown as user.two_factor
}


async def customer(visitor: VisitorFactory, **profile: Any) -> tuple[Visitor, int, str]:
    """A customer signed up through the API (cookie session); its id and e-mail."""
    person = await visitor()
    email = new_email()
    body = await person.register(email, **profile)
    return person, body["user"]["id"], email


async def seed_everything(db_pool: asyncpg.Pool, user_id: int, film: Film) -> str:
    """A paid, admitted booking of a show that is over (seats, payment, audit,
    idempotency key), as checkout and the door leave them; its reference."""
    reference = secrets.token_hex(5).upper()
    async with db_pool.acquire() as conn, conn.transaction():
        booking = await conn.fetchval(
            """INSERT INTO bookings (reference, user_id, showtime_id, status, amount,
                                     currency, hold_deadline, contact_email, contact_phone)
               VALUES ($1, $2, $3, 'booked', 2500, 'EUR', now(), 'contact@example.org',
                       '+49 30 1234567') RETURNING id""", reference, user_id, film.past)
        await conn.execute(
            "INSERT INTO booking_seats (booking_id, showtime_id, seat_id, seat_type, amount) "
            "VALUES ($1, $2, 'A1', 'gold', 2500)", booking, film.past)
        await conn.execute(
            "INSERT INTO payments (booking_id, provider, provider_order_id, amount, currency, "
            "status) VALUES ($1, 'sim', $2, 2500, 'EUR', 'captured')", booking,
            f"order-{reference}")
        await conn.execute("INSERT INTO ticket_scans (booking_id, admitted_by) "
                           "VALUES ($1, 'user:1')", booking)
        await conn.execute(
            "INSERT INTO audit_log (actor, action, booking_id, detail) "
            "VALUES ('provider:sim', 'booking.paid', $1, '{}')", booking)
        await conn.execute(
            "INSERT INTO idempotency_keys (user_id, key, request_hash, status) "
            "VALUES ($1, $2, '\\x00', 201)", user_id, f"key-{reference}")
    return reference


async def test_every_table_about_users_is_in_the_export(db_pool: asyncpg.Pool) -> None:
    async with db_pool.acquire() as conn:
        tables = {r["table_name"] for r in await conn.fetch(
            "SELECT table_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND column_name = 'user_id'")}

    assert tables == set(USER_TABLES)


async def test_the_export_holds_everything_the_server_has_about_the_caller(
        visitor: VisitorFactory, db_pool: asyncpg.Pool, film: Film) -> None:
    person, user_id, email = await customer(visitor, name="Ada Lovelace",
                                            phone="+44 20 7946 0000")
    reference = await seed_everything(db_pool, user_id, film)
    status, review = await person.call("POST", f"/api/movies/{film.movie}/reviews",
                                       {"stars": 5, "text": "Wonderful."})
    assert status == 201, review
    new_address = new_email()
    status, _ = await person.call("PATCH", "/api/me", {"email": new_address,
                                                       "current_password": PASSWORD})
    assert status == 200

    status, export = await person.call("GET", "/api/me/export")

    assert status == 200, export
    assert "attachment" in person.headers["Content-Disposition"]
    assert person.headers["Cache-Control"] == "no-store"
    for section in filter(None, USER_TABLES.values()):
        assert export[section], section
    user = export["user"]
    assert (user["id"], user["email"], user["name"], user["phone"]) == (
        user_id, email, "Ada Lovelace", "+44 20 7946 0000")
    assert user["two_factor"] is False
    assert [c["email"] for c in export["pending_email_changes"]] == [new_address]
    assert [s["current"] for s in export["sessions"]] == [True]
    [booking] = export["bookings"]
    assert (booking["reference"], booking["contact_email"], booking["amount"],
            booking["admitted_at"] is not None) == (reference, "contact@example.org", 2500,
                                                    True)
    assert booking["seats"] == [{"seat": "A1", "type": "gold", "amount": 2500,
                                 "active": True}]
    assert [p["status"] for p in booking["payments"]] == ["captured"]
    assert [r["body"] for r in export["reviews"]] == ["Wonderful."]
    assert {m["kind"] for m in export["messages"]} >= {"account_verify_email"}
    assert all("secret" not in m for m in export["messages"])
    assert [k["key"] for k in export["idempotency_keys"]] == [f"key-{reference}"]
    actions = {a["action"] for a in export["audit"]}
    assert {"account.registered", "account.email_change_requested",
            "booking.paid"} <= actions
    assert export["truncated"] == []


async def test_a_guest_exports_its_sessions_bookings(
        as_role: Make, db_pool: asyncpg.Pool, film: Film) -> None:
    guest: Admin = await as_role(Role.GUEST)
    reference = await seed_everything(db_pool, guest.id, film)

    export = await guest.ok("GET", "/api/me/export")

    assert export["user"]["kind"] == "guest"
    assert [b["reference"] for b in export["bookings"]] == [reference]


async def test_the_export_is_rate_limited_per_account(visitor: VisitorFactory) -> None:
    person, _, _ = await customer(visitor)
    for _ in range(EXPORT_LIMIT):
        assert (await person.call("GET", "/api/me/export"))[0] == 200

    status, body = await person.call("GET", "/api/me/export")

    assert (status, body["error"]["code"]) == (429, "rate_limited")
    assert int(person.headers["Retry-After"]) > 0


async def test_the_export_needs_a_live_full_session(
        visitor: VisitorFactory, db_pool: asyncpg.Pool) -> None:
    anonymous = await visitor()
    person, user_id, _ = await customer(visitor)
    admin_id, admin_email = await new_staff(db_pool)
    await enrol_in_database(db_pool, admin_id)
    staff = await visitor()
    status, half = await staff.call("POST", "/api/auth/login",
                                     {"email": admin_email, "password": PASSWORD})
    assert (status, half["mfa"]) == (202, "code_required")

    assert (await anonymous.call("GET", "/api/me/export"))[0] == 401
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE sessions SET expires_at = created_at + interval '1 ms' "
                           "WHERE user_id = $1", user_id)
    assert (await person.call("GET", "/api/me/export"))[0] == 401
    assert (await staff.call("GET", "/api/me/export"))[0] == 401


async def test_erasure_keeps_the_accounting_and_frees_the_address(
        visitor: VisitorFactory, db_pool: asyncpg.Pool, film: Film) -> None:
    person, user_id, email = await customer(visitor, name="Grace Hopper",
                                            phone="+1 555 0100")
    reference = await seed_everything(db_pool, user_id, film)
    assert (await person.call("POST", f"/api/movies/{film.movie}/reviews",
                              {"stars": 4, "text": "Good."}))[0] == 201
    token = person.token

    status, done = await person.call("DELETE", "/api/me", {"password": PASSWORD})

    assert status == 200, done
    assert done == {"user_id": user_id, "bookings_anonymised": 1, "reviews_removed": 1}
    async with db_pool.acquire() as conn:
        user = await conn.fetchrow("SELECT * FROM users WHERE id = $1", user_id)
        booking = await conn.fetchrow(
            "SELECT b.*, (SELECT count(*) FROM payments p WHERE p.booking_id = b.id) AS paid, "
            "(SELECT count(*) FROM booking_seats s WHERE s.booking_id = b.id) AS seats "
            "FROM bookings b WHERE reference = $1", reference)
        left = {t: await conn.fetchval(f"SELECT count(*) FROM {t} WHERE user_id = $1",
                                       user_id)
                for t in ("sessions", "reviews", "account_tokens", "idempotency_keys")}
        messages = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE payload->>'user_id' = $1", str(user_id))
        mentions = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE detail::text LIKE '%' || $1 || '%'", email)
    assert (user["email"], user["name"], user["phone"], user["password_hash"]) == (
        None, None, None, None)
    assert user["erased_at"] is not None and user["kind"] == "customer"
    assert (booking["contact_email"], booking["contact_phone"]) == (None, None)
    assert (booking["amount"], booking["status"], booking["paid"], booking["seats"]) == (
        2500, "booked", 1, 1)
    assert set(left.values()) == {0} and messages == 0 and mentions == 0
    erased = [e for e in await audit_rows(db_pool, user_id) if e["action"] == "account.erased"]
    assert erased and erased[0]["user_id"] == user_id
    # The old session is gone, log-in fails, and the address can sign up again.
    again = await visitor()
    again.bearer = token
    assert (await again.call("GET", "/api/me"))[0] == 401
    assert (await again.call("GET", "/api/me/export"))[0] == 401
    fresh = await visitor()
    status, body = await fresh.call("POST", "/api/auth/login",
                                    {"email": email, "password": PASSWORD})
    assert (status, body["error"]["code"]) == (401, "invalid_credentials")
    await fresh.register(email)


async def test_erasure_refused_with_a_wrong_password(
        visitor: VisitorFactory, db_pool: asyncpg.Pool) -> None:
    person, user_id, email = await customer(visitor)

    status, body = await person.call("DELETE", "/api/me", {"password": "not the password"})

    assert (status, body["error"]["code"]) == (401, "invalid_credentials")
    assert await user_id_of(db_pool, email) == user_id
    assert (await person.call("GET", "/api/me"))[0] == 200


@pytest.mark.parametrize(("body", "field"), [
    (None, ""),
    ({}, "password"),
    ({"password": None}, "password"),
    ({"password": 12345678901}, "password"),
    ({"password": "x" * 2000}, "password"),
    ({"password": "x" * 100_000}, "Request Entity Too Large"),
    ({"password": "pass\x00word-long-enough"}, "the body contains a NUL"),
    ({"password": PASSWORD, "code": "1" * 1000}, "code"),
    ({"password": PASSWORD, "code": 123456}, "code"),
    ({"password": PASSWORD, "extra": 1}, "extra"),
])
async def test_erasure_refuses_malformed_bodies_naming_the_field(
        visitor: VisitorFactory, db_pool: asyncpg.Pool, body: Any, field: str) -> None:
    person, user_id, _ = await customer(visitor)

    status, answer = await person.call("DELETE", "/api/me", body)

    assert 400 <= status < 500 and answer["error"]["message"].startswith(field), answer
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT erased_at FROM users WHERE id = $1",
                                   user_id) is None


@pytest.mark.parametrize("password", ["пароль-не-тот-вовсе", "e\u0301" * 20,
                                      "🎟" * 40])
async def test_erasure_with_hostile_passwords_is_a_wrong_password(
        visitor: VisitorFactory, password: str) -> None:
    person, _, _ = await customer(visitor)

    status, body = await person.call("DELETE", "/api/me", {"password": password})

    assert (status, body["error"]["code"]) == (401, "invalid_credentials")


async def test_erasure_waits_for_a_booking_being_paid(
        visitor: VisitorFactory, db_pool: asyncpg.Pool, film: Film) -> None:
    person, user_id, _ = await customer(visitor)
    async with db_pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO bookings (reference, user_id, showtime_id, amount, currency, "
            "hold_deadline) VALUES ($1, $2, $3, 100, 'EUR', now() + interval '5 min')",
            secrets.token_hex(5).upper(), user_id, film.future)

    status, body = await person.call("DELETE", "/api/me", {"password": PASSWORD})

    assert (status, body["error"]["code"]) == (409, "in_use")
    assert "payment" in body["error"]["message"]


async def test_staff_with_two_factor_erase_only_with_a_fresh_code(
        visitor: VisitorFactory, db_pool: asyncpg.Pool) -> None:
    await new_staff(db_pool)  # so this one is not the last admin
    admin_id, email = await new_staff(db_pool)
    secret = await enrol_in_database(db_pool, admin_id)
    staff = await visitor()
    status, half = await staff.call("POST", "/api/auth/login",
                                    {"email": email, "password": PASSWORD})
    used = code(secret, -1)
    status, _ = await staff.call("POST", "/api/auth/login/code",
                                 {"challenge": half["challenge"], "code": used})
    assert status == 200

    missing = await staff.call("DELETE", "/api/me", {"password": PASSWORD})
    replayed = await staff.call("DELETE", "/api/me", {"password": PASSWORD, "code": used})
    done = await staff.call("DELETE", "/api/me", {"password": PASSWORD,
                                                  "code": code(secret)})

    assert missing[0] == 401 and missing[1]["error"]["message"].startswith("code")
    assert (replayed[0], replayed[1]["error"]["code"]) == (401, "invalid_code")
    assert done[0] == 200, done
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM staff_mfa WHERE user_id = $1",
                                   admin_id) == 0


async def test_an_admin_erases_a_customer_on_request_with_the_reason_audited(
        as_role: Make, visitor: VisitorFactory, db_pool: asyncpg.Pool, film: Film) -> None:
    admin: Admin = await as_role(Role.ADMIN)
    person, user_id, _ = await customer(visitor)
    await seed_everything(db_pool, user_id, film)

    done = await admin.ok("POST", f"/api/admin/users/{user_id}/erase",
                          {"reason": "  Request by letter,\n ticket #42 "})

    assert done["bookings_anonymised"] == 1
    [entry] = [e for e in await audit_rows(db_pool, admin.id)
               if e["action"] == "account.erased"]
    assert (entry["user_id"], entry["reason"]) == (user_id, "Request by letter, ticket #42")
    assert (await person.call("GET", "/api/me"))[0] == 401
    await admin.refused("POST", f"/api/admin/users/{user_id}/erase", {"reason": "again"},
                        404, "not_found")


async def test_an_admin_cannot_erase_staff_or_without_a_recent_code(
        as_role: Make, db_pool: asyncpg.Pool, visitor: VisitorFactory) -> None:
    admin: Admin = await as_role(Role.ADMIN)
    other: Admin = await as_role(Role.ADMIN)
    _, user_id, _ = await customer(visitor)

    await admin.refused("POST", f"/api/admin/users/{other.id}/erase", {"reason": "x"},
                        409, "in_use")
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE sessions SET mfa_at = now() - interval '1 hour' "
                           "WHERE user_id = $1", admin.id)
    await admin.refused("POST", f"/api/admin/users/{user_id}/erase", {"reason": "x"},
                        403, "reauth_required")
    customer_caller: Admin = await as_role(Role.CUSTOMER)
    await customer_caller.refused("POST", f"/api/admin/users/{user_id}/erase",
                                  {"reason": "x"}, 403, "forbidden")


@pytest.mark.parametrize(("target", "body", "status", "field"), [
    ("{id}", {}, 422, "reason"),
    ("{id}", {"reason": ""}, 422, "reason"),
    ("{id}", {"reason": "   "}, 422, "reason"),
    ("{id}", {"reason": "bad\x00reason"}, 400, "the body contains a NUL"),
    ("{id}", {"reason": "bad\x07reason"}, 422, "reason"),
    ("{id}", {"reason": "r" * 501}, 422, "reason"),
    ("{id}", {"reason": ["list"]}, 422, "reason"),
    ("{id}", {"reason": "ok", "user": 1}, 422, "user"),
    ("0", {"reason": "ok"}, 404, ""),
    ("99999999999999999999999", {"reason": "ok"}, 404, ""),
    ("%EF%BC%91", {"reason": "ok"}, 400, "user"),
    ("-1", {"reason": "ok"}, 400, "user"),
])
async def test_admin_erasure_refuses_hostile_input(
        as_role: Make, db_pool: asyncpg.Pool, visitor: VisitorFactory, target: str,
        body: Any, status: int, field: str) -> None:
    admin: Admin = await as_role(Role.ADMIN)
    _, user_id, _ = await customer(visitor)

    got, answer = await admin.call("POST", f"/api/admin/users/{target.format(id=user_id)}"
                                   "/erase", body)

    assert got == status and answer["error"]["message"].startswith(field), answer
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT erased_at FROM users WHERE id = $1",
                                   user_id) is None


async def test_erasure_releases_the_seats_the_account_holds(
        visitor: VisitorFactory, demo: list[int], base_url: str) -> None:
    person = await visitor()
    person.bearer = (await person.register(new_email(), bearer=True))["token"]
    showtime = demo[1]
    async with person.http.get(f"{base_url}/api/showtimes/{showtime}") as resp:
        # Not a seat test_at_rest.py books in the same showtime.
        seat = (await resp.json())["seats"][-5]["id"]
    holder = await SeatClient(person.http, base_url, person.bearer or "").connect()
    onlooker = await SeatClient(person.http, base_url,
                                await new_session(person.http, base_url)).connect()
    try:
        await holder.subscribe(showtime)
        assert (await holder.hold(showtime, [seat]))["ok"]
        await onlooker.subscribe(showtime)
        await eventually(lambda: seat in onlooker.views[showtime].held)

        status, _ = await person.call("DELETE", "/api/me", {"password": PASSWORD})

        assert status == 200
        await eventually(lambda: seat not in onlooker.views[showtime].held)
    finally:
        await holder.close()
        await onlooker.close()



async def _waiting(db_pool: asyncpg.Pool, statement: str) -> None:
    """Until a backend waits for a lock in a statement matching ``statement``
    (a regular expression)."""
    async def waiting() -> bool:
        async with db_pool.acquire() as conn:
            return bool(await conn.fetchval(
                """SELECT count(*) > 0 FROM pg_stat_activity
                   WHERE datname = current_database() AND wait_event_type = 'Lock'
                     AND query ~ $1""", statement))
    await eventually(waiting)


async def test_a_checkout_in_flight_during_erasure_books_nothing_for_the_erased_account(
        visitor: VisitorFactory, db_pool: asyncpg.Pool, film: Film, demo: list[int],
        base_url: str) -> None:
    # The checkout's session was checked before the erasure committed: it must
    # not then write a booking, with the buyer's address copied in, on an
    # account that no longer exists. Locks held here stop each at a known step.
    person = await visitor()
    email = new_email()
    person.bearer = (await person.register(email, bearer=True))["token"]
    user_id = await user_id_of(db_pool, email)
    old = await seed_everything(db_pool, user_id, film)
    showtime = demo[1]
    async with person.http.get(f"{base_url}/api/showtimes/{showtime}") as resp:
        seat = (await resp.json())["seats"][-7]["id"]  # a seat no other test here takes
    async with SeatClient(person.http, base_url, person.bearer or "") as client:
        await client.subscribe(showtime)
        assert (await client.hold(showtime, [seat]))["ok"]
    async with db_pool.acquire() as prices, db_pool.acquire() as booking:
        prices_held, booking_held = prices.transaction(), booking.transaction()
        await prices_held.start()
        await booking_held.start()
        await prices.execute("LOCK TABLE showtime_prices IN ACCESS EXCLUSIVE MODE")
        await booking.execute("SELECT 1 FROM bookings WHERE reference = $1 FOR UPDATE", old)
        # 1. The checkout has its idempotency key and waits to read the prices.
        checkout = asyncio.create_task(person.call(
            "POST", f"/api/showtimes/{showtime}/bookings", {"seats": [seat]},
            headers={"Idempotency-Key": secrets.token_hex(8)}))
        await _waiting(db_pool, "showtime_prices")
        # 2. The erasure holds the account's row and waits at the old booking.
        erasure = asyncio.create_task(person.call("DELETE", "/api/me",
                                                  {"password": PASSWORD}))
        await _waiting(db_pool, "UPDATE bookings SET contact_email = NULL")
        # 3. The checkout goes on to its booking, and waits for the account's row.
        await prices_held.commit()
        await _waiting(db_pool, "erased_at|INSERT INTO bookings")
        # 4. The erasure ends.
        await booking_held.rollback()
        erased, booked = await erasure, await checkout

    assert erased[0] == 200, erased
    assert booked[0] == 401 and booked[1]["error"]["code"] == "unauthorized", booked
    async with db_pool.acquire() as conn:
        assert await conn.fetchval(
            "SELECT count(*) FROM bookings WHERE user_id = $1 AND reference <> $2",
            user_id, old) == 0


async def _waiting_count(db_pool: asyncpg.Pool, count: int) -> None:
    """Until ``count`` backends of this database wait for a lock."""
    async def waiting() -> bool:
        async with db_pool.acquire() as conn:
            return bool(await conn.fetchval(
                """SELECT count(*) >= $1 FROM pg_stat_activity
                   WHERE datname = current_database() AND wait_event_type = 'Lock'""",
                count))
    await eventually(waiting)


async def test_changes_in_flight_during_erasure_leave_nothing_on_the_erased_account(
        visitor: VisitorFactory, db_pool: asyncpg.Pool, film: Film) -> None:
    # A new name, a new address and a review, each sent by a session checked
    # just before the erasure committed and waiting for the account's row.
    person, user_id, _ = await customer(visitor)
    old = await seed_everything(db_pool, user_id, film)
    async with db_pool.acquire() as blocker:
        held = blocker.transaction()
        await held.start()
        await blocker.execute("SELECT 1 FROM bookings WHERE reference = $1 FOR UPDATE", old)
        erasure = asyncio.create_task(person.call("DELETE", "/api/me",
                                                  {"password": PASSWORD}))
        await _waiting(db_pool, "UPDATE bookings SET contact_email = NULL")
        changes = [asyncio.create_task(person.call(*call)) for call in (
            ("PATCH", "/api/me", {"name": "Still Here"}),
            ("PATCH", "/api/me", {"email": new_email(), "current_password": PASSWORD}),
            ("POST", f"/api/movies/{film.movie}/reviews", {"stars": 5, "text": "Mine."}))]
        await _waiting_count(db_pool, 1 + len(changes))
        await held.rollback()
        erased = await erasure
        answers = [await change for change in changes]

    assert erased[0] == 200, erased
    assert [(status, body["error"]["code"]) for status, body in answers] == [
        (401, "unauthorized")] * 3, answers
    async with db_pool.acquire() as conn:
        user = await conn.fetchrow("SELECT name, name_sealed FROM users WHERE id = $1",
                                   user_id)
        left = {t: await conn.fetchval(f"SELECT count(*) FROM {t} WHERE user_id = $1",
                                       user_id) for t in ("reviews", "account_tokens")}
        messages = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE payload->>'user_id' = $1", str(user_id))
    assert (user["name"], user["name_sealed"]) == (None, None)
    assert left == {"reviews": 0, "account_tokens": 0} and messages == 0
