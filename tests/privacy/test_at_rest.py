"""Personal data at rest: no name, address or phone in clear anywhere in the
database (every stored value, and a pg_dump of it) after a realistic flow;
rows from before encryption sealed when a server starts; key rotation while
the server serves; wrapped stored keys."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from seatserver.db import migrate
from seatserver.http.roles import Role
from seatserver.loadgen.client import SeatClient
from seatserver.personal.cipher import PersonalDataError
from seatserver.personal.keys import PersonalKeysError, PersonalKeyStore
from seatserver.personal.rotation import count_stale
from seatserver.personal.setup import stored_keys
from tests import forked
from tests.accounts.conftest import PASSWORD, Visitor, VisitorFactory, new_email
from tests.admin.conftest import Admin
from tests.bookings.test_backup import tool
from tests.personal_support import user_id_of
from tests.test_cli import environment

Make = Any
TEXT_TYPES = ("text", "character varying", "character", "json", "jsonb", "bytea")


async def everything_stored(pool: asyncpg.Pool) -> dict[str, bytes]:
    """Every text, JSON and bytea value of every table (as a dump has them),
    lower-cased, by table and column."""
    chunks: dict[str, bytes] = {}
    async with pool.acquire() as conn:
        columns = await conn.fetch(
            """SELECT table_name, column_name, data_type FROM information_schema.columns
               WHERE table_schema = 'public' AND data_type = ANY($1::text[])""",
            list(TEXT_TYPES))
        for c in columns:
            cast = "" if c["data_type"] == "bytea" else "::text"
            for value in await conn.fetch(
                    f'SELECT "{c["column_name"]}"{cast} AS v FROM "{c["table_name"]}" '
                    f'WHERE "{c["column_name"]}" IS NOT NULL'):
                v = value["v"]
                where = f'{c["table_name"]}.{c["column_name"]}'
                chunks[where] = chunks.get(where, b"") + b"\n" + (
                    bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode()).lower()
    return chunks


async def dumped(database_url: str) -> bytes:
    """The whole database as ``pg_dump`` writes it (plain SQL), lower-cased:
    every column of every type, arrays and JSON included."""
    done = await asyncio.to_thread(
        subprocess.run, [str(await tool(database_url, "pg_dump")), "--format=plain",
                         "--no-owner", database_url], capture_output=True, check=False,
        timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.lower()


def found_in(stored: dict[str, bytes], secret: str) -> list[str]:
    """Where ``secret`` (any case) is stored in clear."""
    return [where for where, blob in stored.items() if secret.lower().encode() in blob]


async def hold_and_book(visitor: Visitor, base_url: str, showtime: int, seat: str,
                        body: dict[str, Any]) -> dict[str, Any]:
    token = visitor.token or ""
    client = await SeatClient(visitor.http, base_url, token).connect()
    try:
        await client.subscribe(showtime)
        assert (await client.hold(showtime, [seat]))["ok"]
    finally:
        await client.close()
    status, booking = await visitor.call(
        "POST", f"/api/showtimes/{showtime}/bookings", {"seats": [seat], **body},
        headers={"Idempotency-Key": secrets.token_hex(8)})
    assert status == 201, booking
    return booking  # type: ignore[no-any-return]


async def test_no_name_address_or_phone_is_stored_in_clear_after_a_realistic_flow(
        visitor: VisitorFactory, as_role: Make, db_pool: asyncpg.Pool, demo: list[int],
        base_url: str, database_url: str) -> None:
    tag = secrets.token_hex(4)
    email, second = f"Ada.{tag}@Example.com", f"lovelace.{tag}@example.org"
    name, phone = f"Ada Byron {tag}", f"+44 20 {secrets.randbelow(10**8):08d}"
    guest_email, guest_phone = f"guest.{tag}@example.net", f"+49 {secrets.randbelow(10**9):09d}"
    person = await visitor()
    person.bearer = (await person.register(email, name=name, phone=phone,
                                           bearer=True))["token"]
    async with person.http.get(f"{base_url}/api/showtimes/{demo[1]}") as resp:
        seats = [s["id"] for s in (await resp.json())["seats"]]
    booking = await hold_and_book(person, base_url, demo[1], seats[-1], {})
    assert (booking["email"], booking["phone"]) == (email, phone)
    assert (await person.call("PATCH", "/api/me", {"email": second,
                                                   "current_password": PASSWORD}))[0] == 200
    assert (await (await visitor()).call("POST", "/api/auth/password-reset",
                                         {"email": email}))[0] == 202
    guest = await visitor()
    guest.bearer = (await guest.call("POST", "/api/sessions"))[1]["token"]
    guest_booking = await hold_and_book(guest, base_url, demo[1], seats[-2],
                                        {"email": guest_email, "phone": guest_phone})
    admin: Admin = await as_role(Role.ADMIN)
    found = await admin.ok("GET", f"/api/admin/bookings?email={email.upper()}")
    me = (await person.call("GET", "/api/me"))[1]

    stored = await everything_stored(db_pool)
    dump = await dumped(database_url)
    assert booking["reference"].lower().encode() in dump  # the dump holds this flow's rows

    assert [b["reference"] for b in found["bookings"]] == [booking["reference"]]
    assert (me["email"], me["name"], me["phone"], me["email_pending"]) == (
        email, name, phone, second)
    assert guest_booking["email"] == guest_email
    for secret in (email, second, name, phone, guest_email, guest_phone, f"ada.{tag}",
                   f"lovelace.{tag}", f"guest.{tag}"):
        assert found_in(stored, secret) == [], secret
        assert secret.lower().encode() not in dump, secret


async def test_rows_from_before_encryption_are_sealed_when_a_server_starts(
        make_server: Make, db_pool: asyncpg.Pool, visitor: VisitorFactory, demo: list[int],
        film: Any) -> None:
    from seatserver.accounts.passwords import Passwords

    email, reference = new_email(), secrets.token_hex(5).upper()
    async with db_pool.acquire() as conn:
        user_id = await conn.fetchval(
            "INSERT INTO users (kind, email, password_hash, name, phone) "
            "VALUES ('customer', $1, $2, 'Old Timer', '+1 555 0199') RETURNING id",
            email, await Passwords(concurrency=1).hash(PASSWORD))
        await conn.execute(
            "INSERT INTO bookings (reference, user_id, showtime_id, status, amount, currency, "
            "hold_deadline, contact_email, contact_phone) VALUES ($1, $2, $3, 'booked', 100, "
            "'EUR', now(), $4, '+1 555 0199')", reference, user_id, film.past, email)
        await conn.execute(
            "INSERT INTO outbox (kind, payload, sent_at) VALUES ('account_email_in_use', "
            "jsonb_build_object('user_id', $1::bigint, 'to', $2::text), now())",
            user_id, email)

    server: TestServer = await make_server()
    person = await visitor()
    person.base = str(server.make_url("/")).rstrip("/")

    me = await person.log_in(email)
    async with db_pool.acquire() as conn:
        clear = await conn.fetchrow(
            "SELECT u.email, u.name, u.phone, b.contact_email, b.contact_phone "
            "FROM users u JOIN bookings b ON b.user_id = u.id WHERE u.id = $1", user_id)
    assert set(clear.values()) == {None}
    assert (me["user"]["email"], me["user"]["name"]) == (email, "Old Timer")
    assert await user_id_of(db_pool, email) == user_id
    assert found_in(await everything_stored(db_pool), email) == []


async def registered(visitor: VisitorFactory, base: str, n: int) -> list[tuple[Visitor, str]]:
    people = []
    for i in range(n):
        person = await visitor()
        person.base = base
        name = f"Person {i} {secrets.token_hex(3)}"
        await person.register(new_email(), name=name)
        people.append((person, name))
    return people


async def seatserver_cli(*args: str, **env: str) -> tuple[int, str]:
    """The command in a process of its own (forked warm, tests/forked.py),
    awaited in a thread: the server keeps serving meanwhile."""
    done = await asyncio.to_thread(forked.run, list(args), environment(**env), 120,
                                   merge_errors=True)
    return done.returncode, done.stdout


async def test_keys_rotate_reseals_everything_while_the_server_serves(
        fresh_database_url: str, make_server: Make, visitor: VisitorFactory) -> None:
    await migrate(fresh_database_url)
    server: TestServer = await make_server(database_url=fresh_database_url,
                                           secret_refresh_s=1.0)
    base = str(server.make_url("/")).rstrip("/")
    people = await registered(visitor, base, 12)
    pool = await asyncpg.create_pool(fresh_database_url, min_size=1, max_size=2)
    seen: list[int] = []
    stop = asyncio.Event()

    async def keep_reading() -> None:
        while not stop.is_set():
            for person, name in people:
                status, me = await person.call("GET", "/api/me")
                assert (status, me["name"]) == (200, name)
                seen.append(status)
            if len(people) < 30:  # within the sign-ups allowed per address
                people.extend(await registered(visitor, base, 1))
            await asyncio.sleep(0.1)

    try:
        before = (await stored_keys(pool)).cipher.current
        reader = asyncio.create_task(keep_reading())
        # The command waits out the servers' reload interval (twice): theirs, 1 s here.
        code, out = await seatserver_cli("keys", "rotate", "--batch", "3",
                                         DATABASE_URL=fresh_database_url,
                                         SEATSERVER_SECRET_REFRESH="1")
        stop.set()
        await reader
        after = (await stored_keys(pool)).cipher.current
        left = await count_stale(pool, after)
        retired_code, retired_out = await seatserver_cli(
            "keys", "rotate", "--no-new-key", "--retire", DATABASE_URL=fresh_database_url,
            SEATSERVER_SECRET_REFRESH="1")
        await asyncio.sleep(0.5)  # the server reloads its keys
        for person, name in people:
            status, me = await person.call("GET", "/api/me")
            assert (status, me["name"]) == (200, name)
        async with pool.acquire() as conn:
            keys = await conn.fetch("SELECT key_id FROM personal_keys WHERE purpose = 'data'")
            sealed = await conn.fetch("SELECT name_sealed FROM users WHERE name_sealed "
                                      "IS NOT NULL")
    finally:
        stop.set()
        await pool.close()
        await server.close()  # before its database is dropped

    assert code == 0, out
    assert (before, after) == ("d1", "d2")
    assert "re-sealed" in out and "every value is sealed with d2" in out
    assert set(left.values()) == {0}
    assert len(seen) > len(people) / 2
    assert retired_code == 0 and "retired keys: d1" in retired_out, retired_out
    assert [k["key_id"] for k in keys] == ["d2"]
    assert all(s["name_sealed"].startswith("v1:d2:") for s in sealed)


async def test_keys_status_counts_values_on_older_keys(fresh_database_url: str) -> None:
    await migrate(fresh_database_url)

    code, out = await seatserver_cli("keys", "status", DATABASE_URL=fresh_database_url)
    bad_code, bad_out = await seatserver_cli("keys", "rotate", "--batch", "0",
                                             DATABASE_URL=fresh_database_url)

    assert code == 0 and "current key: d1" in out and "users.email\t0" in out, out
    assert bad_code == 2 and "--batch" in bad_out


async def test_stored_keys_are_wrapped_with_the_kek_and_refused_without_it(
        fresh_database_url: str) -> None:
    await migrate(fresh_database_url)
    pool = await asyncpg.create_pool(fresh_database_url, min_size=1, max_size=2)
    kek, other = secrets.token_bytes(32), secrets.token_bytes(32)
    try:
        plain = (await stored_keys(pool)).cipher
        sealed = plain.seal("ada@example.com", "users.email", "1")
        wrapped = (await stored_keys(pool, kek)).cipher
        async with pool.acquire() as conn:
            rows = await conn.fetch("SELECT wrapped FROM personal_keys")
        with pytest.raises(PersonalKeysError, match="KEK"):
            await PersonalKeyStore(pool, None).load()
        with pytest.raises(PersonalKeysError, match="right one"):
            await PersonalKeyStore(pool, other).load()
    finally:
        await pool.close()

    assert {r["wrapped"] for r in rows} == {True}
    assert wrapped.open(sealed, "users.email", "1") == "ada@example.com"
    with pytest.raises(PersonalDataError):
        wrapped.open(sealed, "users.email", "2")
