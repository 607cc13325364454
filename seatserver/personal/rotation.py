"""Sealing personal values in place, in batches, while the server runs.

Two passes over every sealed column (``COLUMNS``), each a loop of short
transactions of ``batch`` rows locked with ``FOR UPDATE SKIP LOCKED``:

- ``seal_clear_values``: values still in their clear column (rows written
  before migration 0016) are sealed, hashed and the clear column set to NULL.
  Every instance runs it when it starts, before serving (one at a time: an
  advisory lock), so the server never looks up a clear address.
- ``reseal``: values sealed under another key than the current one are
  opened and sealed again (``seatserver keys rotate``).

Each row is written only if its value is still the one read (a request that
changed it meanwhile wrote it under the current key), so both passes are
safe beside a running server, and resumable: a pass stopped half-way leaves
every row either done or as it was, and the next run picks up what is left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from seatserver.personal.cipher import PersonalCipher, PersonalDataError

_SEALING_LOCK = 0x5EA7_0016


@dataclass(frozen=True, slots=True)
class Column:
    table: str
    pk: str  # the primary key that updates find the row by
    row: str  # SQL for the row value the sealed value is bound to
    clear: str
    sealed: str
    hash: str | None = None  # the keyed-hash column of an e-mail address

    @property
    def field(self) -> str:
        return f"{self.table}.{self.clear}"


COLUMNS = (
    Column("users", "id", "id::text", "email", "email_sealed", "email_hash"),
    Column("users", "id", "id::text", "name", "name_sealed"),
    Column("users", "id", "id::text", "phone", "phone_sealed"),
    Column("bookings", "id", "reference", "contact_email", "contact_email_sealed"),
    Column("bookings", "id", "reference", "contact_phone", "contact_phone_sealed"),
    Column("account_tokens", "token_hash", "encode(token_hash, 'hex')", "email",
           "email_sealed", "email_hash"),
)
# Outbox messages to an account carry its address, sealed, in payload.to.
OUTBOX_FIELD = "outbox.to"
# Saved idempotent responses (bookings.idempotency.BODY_FIELD: the same name).
BODIES_FIELD = "idempotency_keys.body"

Progress = Callable[[str, int], None]


def _ignore(name: str, done: int) -> None:
    return None


async def _seal_batch(conn: asyncpg.Connection, column: Column, cipher: PersonalCipher,
                      batch: int) -> int:
    async with conn.transaction():
        rows = await conn.fetch(
            f"""SELECT {column.pk} AS pk, {column.row} AS row, {column.clear} AS value
                FROM {column.table} WHERE {column.clear} IS NOT NULL
                ORDER BY {column.pk} LIMIT $1 FOR UPDATE SKIP LOCKED""", batch)
        hashed = f", {column.hash} = $4" if column.hash else ""
        await conn.executemany(
            f"""UPDATE {column.table} SET {column.sealed} = $2, {column.clear} = NULL{hashed}
                WHERE {column.pk} = $1 AND {column.clear} = $3""",
            [(r["pk"], cipher.seal(r["value"], column.field, r["row"]), r["value"],
              *((cipher.email_hash(r["value"]),) if column.hash else ()))
             for r in rows])
    return len(rows)


async def _seal_outbox_batch(conn: asyncpg.Connection, cipher: PersonalCipher,
                             batch: int) -> int:
    async with conn.transaction():
        rows = await conn.fetch(
            """SELECT id, payload->>'to' AS value, payload->>'user_id' AS row FROM outbox
               WHERE payload ? 'to' AND payload->>'to' NOT LIKE 'v1:%'
               ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED""", batch)
        await conn.executemany(
            "UPDATE outbox SET payload = jsonb_set(payload, '{to}', to_jsonb($2::text)) "
            "WHERE id = $1",
            [(r["id"], cipher.seal(r["value"], OUTBOX_FIELD, r["row"])) for r in rows])
    return len(rows)


async def seal_clear_values(pool: asyncpg.Pool, cipher: PersonalCipher, *, batch: int = 500,
                            progress: Progress = _ignore) -> int:
    """Seal every value still in a clear column; returns how many."""
    total = 0
    # One transaction, its lock ending with it whatever happens: a pooled
    # connection carries no session state to its next user (tests/test_db.py),
    # and a session lock left by a cancelled start would have.
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SEALING_LOCK)
        for column in COLUMNS:
            while done := await _seal_batch(conn, column, cipher, batch):
                total += done
                progress(column.field, done)
        while done := await _seal_outbox_batch(conn, cipher, batch):
            total += done
            progress(OUTBOX_FIELD, done)
    return total


def _stale(column: Column) -> str:
    return f"{column.sealed} IS NOT NULL AND {column.sealed} NOT LIKE 'v1:' || $1 || ':%'"


async def count_stale(pool: asyncpg.Pool, current: str) -> dict[str, int]:
    """How many values each column has under another key than ``current``."""
    found: dict[str, int] = {}
    async with pool.acquire() as conn:
        for column in COLUMNS:
            found[column.field] = await conn.fetchval(
                f"SELECT count(*) FROM {column.table} WHERE {_stale(column)}", current)
        found[BODIES_FIELD] = await conn.fetchval(
            """SELECT count(*) FROM idempotency_keys
               WHERE body IS NOT NULL AND substr(body, 1, 3) = 'v1:'::bytea
                 AND substr(body, 1, length($1) + 4) <> ('v1:' || $1 || ':')::bytea""",
            current)
        found[OUTBOX_FIELD] = await conn.fetchval(
            """SELECT count(*) FROM outbox WHERE payload->>'to' LIKE 'v1:%'
               AND payload->>'to' NOT LIKE 'v1:' || $1 || ':%'""", current)
    return found


async def _reseal_batch(conn: asyncpg.Connection, column: Column, cipher: PersonalCipher,
                        batch: int) -> int:
    async with conn.transaction():
        rows = await conn.fetch(
            f"""SELECT {column.pk} AS pk, {column.row} AS row, {column.sealed} AS value
                FROM {column.table} WHERE {_stale(column)}
                ORDER BY {column.pk} LIMIT $2 FOR UPDATE SKIP LOCKED""",
            cipher.current, batch)
        await conn.executemany(
            f"UPDATE {column.table} SET {column.sealed} = $2 "
            f"WHERE {column.pk} = $1 AND {column.sealed} = $3",
            [(r["pk"], _resealed(cipher, r["value"], column.field, r["row"]), r["value"])
             for r in rows])
    return len(rows)


async def _reseal_outbox_batch(conn: asyncpg.Connection, cipher: PersonalCipher,
                               batch: int) -> int:
    async with conn.transaction():
        rows = await conn.fetch(
            """SELECT id, payload->>'to' AS value, payload->>'user_id' AS row FROM outbox
               WHERE payload->>'to' LIKE 'v1:%' AND payload->>'to' NOT LIKE 'v1:' || $1 || ':%'
               ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED""", cipher.current, batch)
        await conn.executemany(
            "UPDATE outbox SET payload = jsonb_set(payload, '{to}', to_jsonb($2::text)) "
            "WHERE id = $1",
            [(r["id"], _resealed(cipher, r["value"], OUTBOX_FIELD, r["row"])) for r in rows])
    return len(rows)


def _resealed(cipher: PersonalCipher, sealed: str, field: str, row: str) -> str:
    try:
        return cipher.seal(cipher.open(sealed, field, row), field, row)
    except PersonalDataError as exc:
        raise PersonalDataError(f"{field} of row {row}: {exc}") from None


async def _reseal_bodies_batch(conn: asyncpg.Connection, cipher: PersonalCipher,
                               batch: int) -> int:
    """Saved idempotent responses (sealed bytes, kept a day) under an older key."""
    async with conn.transaction():
        rows = await conn.fetch(
            """SELECT user_id, key, body FROM idempotency_keys
               WHERE body IS NOT NULL AND substr(body, 1, 3) = 'v1:'::bytea
                 AND substr(body, 1, length($1) + 4) <> ('v1:' || $1 || ':')::bytea
               ORDER BY user_id, key LIMIT $2 FOR UPDATE SKIP LOCKED""",
            cipher.current, batch)
        updates = []
        for r in rows:
            row, old = f"{r['user_id']}:{r['key']}", bytes(r["body"])
            data = cipher.open_bytes(old.decode(), BODIES_FIELD, row)
            updates.append((r["user_id"], r["key"],
                            cipher.seal_bytes(data, BODIES_FIELD, row).encode(), old))
        await conn.executemany(
            "UPDATE idempotency_keys SET body = $3 WHERE user_id = $1 AND key = $2 "
            "AND body = $4", updates)
    return len(rows)


async def reseal(pool: asyncpg.Pool, cipher: PersonalCipher, *, batch: int = 500,
                 progress: Progress = _ignore) -> int:
    """Seal again, under the current key, every value sealed under another."""
    total = 0
    async with pool.acquire() as conn:
        for column in COLUMNS:
            while done := await _reseal_batch(conn, column, cipher, batch):
                total += done
                progress(column.field, done)
        while done := await _reseal_outbox_batch(conn, cipher, batch):
            total += done
            progress(OUTBOX_FIELD, done)
        while done := await _reseal_bodies_batch(conn, cipher, batch):
            total += done
            progress(BODIES_FIELD, done)
    return total
