"""Idempotency-Key semantics as the well-known payment APIs have them.

The first request with a key claims it (a row with no status yet); when it
finishes, its status and body are saved for ``KEEP``. The same key and the
same request get the saved response; a different request gets
``idempotency_mismatch``; a request while the first is still running gets
``request_in_flight``. Server failures (5xx) are not saved: the key is freed
so that the client's retry runs again. A claim still unfinished after
``LEASE`` was left by a process that died mid-request: it is taken over, so
a crash does not lock the key for a day (checkout supersedes any pending
booking the dead request made). A claim that could not be forgotten because
the database was gone (the usual reason to forget one) is remembered by the
process that made it, whose next claim of that key takes it over at once:
a buyer retrying after a database restart is not told ``request_in_flight``
for the whole lease (a retry that reaches another instance still is).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from seatserver.db import DB_DOWN
from seatserver.errors import IdempotencyMismatch, RequestInFlight
from seatserver.personal.cipher import FORMAT
from seatserver.personal.keys import PersonalKeys

KEEP = timedelta(hours=24)
# Far beyond what a checkout can take (the provider's timeout included).
LEASE = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class SavedResponse:
    status: int
    body: bytes


def request_hash(*parts: bytes) -> bytes:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.digest()


# A saved response holds the booking as its buyer saw it, contact included:
# it is sealed like any personal value, bound to its user and key.
BODY_FIELD = "idempotency_keys.body"


def body_row(user_id: int, key: str) -> str:
    return f"{user_id}:{key}"


class IdempotencyStore:
    def __init__(self, pool: asyncpg.Pool, keys: PersonalKeys) -> None:
        self._pool = pool
        self._keys = keys
        # (user, key) claimed here, whose request ended but whose claim stayed.
        self._abandoned: set[tuple[int, str]] = set()

    async def claim(self, user_id: int, key: str, fingerprint: bytes) -> SavedResponse | None:
        """None: the caller owns the key and must ``finish`` or ``forget`` it."""
        async with self._pool.acquire() as conn:
            # A key older than KEEP is forgotten, so it may be claimed afresh;
            # so is a claim whose request died before finishing.
            await conn.execute(
                """DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2
                   AND (created_at < now() - $3::interval
                        OR (status IS NULL AND (created_at < now() - $4::interval OR $5)))""",
                user_id, key, KEEP, LEASE, (user_id, key) in self._abandoned)
            claimed = await conn.fetchval(
                """INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES ($1, $2, $3)
                   ON CONFLICT (user_id, key) DO NOTHING RETURNING true""",
                user_id, key, fingerprint)
            self._abandoned.discard((user_id, key))
            if claimed:
                return None
            row = await conn.fetchrow(
                "SELECT request_hash, status, body FROM idempotency_keys "
                "WHERE user_id = $1 AND key = $2", user_id, key)
        if row is None:  # forgotten between our two statements: a retry is in order
            raise RequestInFlight("a request with this Idempotency-Key is in progress")
        if bytes(row["request_hash"]) != fingerprint:
            raise IdempotencyMismatch(
                "this Idempotency-Key was used with a different request")
        if row["status"] is None:
            raise RequestInFlight("a request with this Idempotency-Key is in progress")
        body = bytes(row["body"])
        if body.startswith(f"{FORMAT}:".encode()):  # else saved before bodies were sealed
            body = self._keys.cipher.open_bytes(body.decode(), BODY_FIELD, body_row(user_id, key))
        return SavedResponse(row["status"], body)

    async def finish(self, user_id: int, key: str, response: SavedResponse) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                "UPDATE idempotency_keys SET status = $3, body = $4 "
                "WHERE user_id = $1 AND key = $2",
                user_id, key, response.status,
                self._keys.cipher.seal_bytes(response.body, BODY_FIELD,
                                             body_row(user_id, key)).encode())

    async def forget(self, user_id: int, key: str) -> None:
        try:
            async with self._pool.acquire() as conn:
                await conn.execute(
                    "DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2",
                    user_id, key)
        except DB_DOWN:
            self._abandoned.add((user_id, key))
            raise

    async def purge(self) -> int:
        """Forget every key older than ``KEEP``; returns how many."""
        async with self._pool.acquire() as conn:
            done = await conn.execute(
                "DELETE FROM idempotency_keys WHERE created_at < now() - $1::interval", KEEP)
        return int(done.split()[-1])
