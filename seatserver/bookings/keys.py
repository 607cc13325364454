"""Signing keys: configured, or generated once and kept in PostgreSQL.

No key has a default in the code: a default would be public, and anyone could
sign a "captured" webhook or a ticket with it. A key given in the environment
(``SEATSERVER_PAYMENT_SECRET``, ``SEATSERVER_TICKET_SECRET``) is used as it
is. Otherwise the first instance to start generates a random 256-bit key and
stores it in ``server_secrets``; every instance, now or later, reads the same
one, so ``make run`` and a fleet of instances work with no configuration.

``seatserver secrets rotate`` makes a new current key (it signs from then on)
and keeps the one it replaces valid for verifying until a grace period ends:
tickets already printed and webhooks already in flight still verify. Each
instance reloads the keys every ``secret_refresh_s``; an instance that has not
yet seen a rotation signs with the previous key, which verifies everywhere
during the grace period.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from seatserver.background import BackgroundService, BackgroundTask

log = logging.getLogger(__name__)

KEY_NAMES = ("payment", "ticket")
KEY_BYTES = 32


def new_key() -> str:
    return secrets.token_hex(KEY_BYTES)


@dataclass(frozen=True, slots=True)
class StoredKey:
    name: str
    version: int
    secret: str
    created_at: datetime
    # None: the current key (signs and verifies); else verifies until then.
    valid_until: datetime | None


class SecretStore:
    """The generated keys in PostgreSQL (``server_secrets``)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def ensure(self, names: tuple[str, ...] = KEY_NAMES) -> None:
        """A current key for each name, generated if there is none. Instances
        starting at once race harmlessly: the primary key and the one-current
        index let exactly one insert win, and everyone reads the winner's."""
        async with self._pool.acquire() as conn:
            for name in names:
                await conn.execute(
                    """INSERT INTO server_secrets (name, version, secret)
                       SELECT $1, coalesce(max(version), 0) + 1, $2
                       FROM server_secrets WHERE name = $1
                       HAVING count(*) FILTER (WHERE valid_until IS NULL) = 0
                       ON CONFLICT DO NOTHING""", name, new_key())

    async def valid(self) -> list[StoredKey]:
        """Every key that still verifies: the current ones, and those in their grace."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT name, version, secret, created_at, valid_until FROM server_secrets
                   WHERE valid_until IS NULL OR valid_until > now()
                   ORDER BY name, version DESC""")
        return [StoredKey(r["name"], r["version"], r["secret"], r["created_at"],
                          r["valid_until"]) for r in rows]

    async def rotate(self, name: str, grace: timedelta) -> StoredKey:
        """A new current key for ``name``; the one it replaces verifies for
        ``grace`` more (zero: from now on it never does)."""
        if name not in KEY_NAMES:
            raise ValueError(f"no key named {name!r}")
        async with self._pool.acquire() as conn, conn.transaction():
            # Rotations of one key are serialised on its current row.
            await conn.execute(
                "SELECT 1 FROM server_secrets WHERE name = $1 AND valid_until IS NULL "
                "FOR UPDATE", name)
            await conn.execute(
                """UPDATE server_secrets SET valid_until = now() + $2::interval
                   WHERE name = $1 AND valid_until IS NULL""", name, grace)
            row = await conn.fetchrow(
                """INSERT INTO server_secrets (name, version, secret)
                   SELECT $1, coalesce(max(version), 0) + 1, $2
                   FROM server_secrets WHERE name = $1
                   RETURNING name, version, secret, created_at, valid_until""",
                name, new_key())
        return StoredKey(row["name"], row["version"], row["secret"], row["created_at"],
                         row["valid_until"])


class Keyring(BackgroundService):
    """The keys this instance signs and verifies with, by name.

    ``configured`` keys (from the environment) win over stored ones and never
    change while the process runs. Enter it (``async with``) before serving:
    that loads the stored keys (generating any that are missing), and the
    keys are kept fresh until it is left.
    """

    def __init__(self, store: SecretStore | None, configured: Mapping[str, str | None], *,
                 refresh_s: float = 10.0) -> None:
        self._store = store
        self._configured = {n: k for n, k in configured.items() if k}
        self._stored: dict[str, list[StoredKey]] = {}
        super().__init__(BackgroundTask.every("reloading signing keys", refresh_s, self.load))

    @classmethod
    def of(cls, **keys: str) -> Keyring:
        """Only configured keys, no database (tools, and tests of one part)."""
        return cls(None, keys)

    @property
    def _generated(self) -> tuple[str, ...]:
        return tuple(n for n in KEY_NAMES if n not in self._configured)

    async def load(self) -> None:
        generated = self._generated
        if not generated or self._store is None:
            return
        await self._store.ensure(generated)
        found: dict[str, list[StoredKey]] = {}
        for key in await self._store.valid():
            found.setdefault(key.name, []).append(key)
        self._stored = found

    async def prepare(self) -> None:
        await self.load()

    def signing(self, name: str) -> str:
        """The key that signs: the configured one, else the newest stored one."""
        if name in self._configured:
            return self._configured[name]
        for key in self._stored.get(name, ()):
            if key.valid_until is None:
                return key.secret
        raise LookupError(f"no {name} key loaded (Keyring not entered?)")

    def verifying(self, name: str) -> list[str]:
        """Every key a signature may be made with: the signing key first, then
        keys still in their grace period."""
        if name in self._configured:
            return [self._configured[name]]
        now = datetime.now(UTC)
        keys = self._stored.get(name, ())
        return [k.secret for k in sorted(keys, key=lambda k: k.valid_until is not None)
                if k.valid_until is None or k.valid_until > now]

