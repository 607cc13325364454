"""Where the personal-data keys come from: configuration, or PostgreSQL.

Configured (``SEATSERVER_PERSONAL_DATA_KEYS`` and
``SEATSERVER_PERSONAL_LOOKUP_KEY``): used as given, the first data key
current; a rotation is a new key put first and the instances restarted one
by one, then ``seatserver keys rotate`` to re-seal the old values.

Generated (nothing configured): the first instance to start generates a data
key and a lookup key and stores them in ``personal_keys``, where every
instance reads them, as for the signing keys (``bookings.keys``).
``seatserver keys rotate`` adds a new current data key; every instance takes
it up within ``secret_refresh_s``. With ``SEATSERVER_PERSONAL_DATA_KEK`` set,
stored keys are wrapped with that key-encryption key (AES-GCM), so a dump of
the database alone opens nothing; keys stored before a KEK was set are
wrapped on the next start. Without a KEK they are stored as they are, and the
server says so when it starts (docs/security.md).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from seatserver.background import BackgroundService, BackgroundTask
from seatserver.personal.cipher import NONCE_BYTES, PersonalCipher, decode_key, new_key

log = logging.getLogger(__name__)

LOOKUP_ID = "lookup"


class PersonalKeysError(Exception):
    """The stored keys cannot be used with this configuration (message says why)."""


def parse_configured(keys: str, lookup: str | None) -> PersonalCipher:
    """``id:base64,id:base64`` (the first current) and the lookup key."""
    if not lookup:
        raise ValueError("SEATSERVER_PERSONAL_LOOKUP_KEY is needed with "
                         "SEATSERVER_PERSONAL_DATA_KEYS")
    found: dict[str, bytes] = {}
    for item in keys.split(","):
        key_id, sep, text = item.strip().partition(":")
        if not sep:
            raise ValueError("SEATSERVER_PERSONAL_DATA_KEYS: id:base64-key, comma-separated")
        if key_id in found:
            raise ValueError(f"SEATSERVER_PERSONAL_DATA_KEYS: key id {key_id!r} twice")
        found[key_id] = decode_key(text, f"SEATSERVER_PERSONAL_DATA_KEYS {key_id!r}")
    current = next(iter(found))
    return PersonalCipher(found, current,
                          decode_key(lookup, "SEATSERVER_PERSONAL_LOOKUP_KEY"))


def _wrap(kek: bytes, key_id: str, key: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(kek).encrypt(nonce, key, f"seatserver/kek|{key_id}".encode())


def _unwrap(kek: bytes, key_id: str, material: bytes) -> bytes:
    try:
        return AESGCM(kek).decrypt(material[:NONCE_BYTES], material[NONCE_BYTES:],
                                   f"seatserver/kek|{key_id}".encode())
    except InvalidTag:
        raise PersonalKeysError(f"personal data key {key_id!r} does not open with "
                        "SEATSERVER_PERSONAL_DATA_KEK: is it the right one?") from None


@dataclass(frozen=True, slots=True)
class StoredKey:
    key_id: str
    purpose: str
    material: bytes
    wrapped: bool
    current: bool


class PersonalKeyStore:
    """The generated keys in PostgreSQL (``personal_keys``)."""

    def __init__(self, pool: asyncpg.Pool, kek: bytes | None) -> None:
        self._pool = pool
        self._kek = kek

    def _material(self, key_id: str, key: bytes) -> tuple[bytes, bool]:
        return (_wrap(self._kek, key_id, key), True) if self._kek else (key, False)

    async def ensure(self) -> None:
        """A lookup key and a current data key, generated if missing (instances
        racing at start: the primary key and one-current index let one win);
        keys stored unwrapped are wrapped once a KEK is configured."""
        async with self._pool.acquire() as conn, conn.transaction():
            for key_id, purpose in ((LOOKUP_ID, "lookup"), ("d1", "data")):
                material, wrapped = self._material(key_id, new_key())
                await conn.execute(
                    """INSERT INTO personal_keys (key_id, purpose, material, wrapped, current)
                       SELECT $1, $2, $3, $4, true WHERE NOT EXISTS (
                           SELECT 1 FROM personal_keys WHERE purpose = $2)
                       ON CONFLICT DO NOTHING""", key_id, purpose, material, wrapped)
            if self._kek:
                for row in await conn.fetch(
                        "SELECT key_id, material FROM personal_keys WHERE NOT wrapped "
                        "FOR UPDATE"):
                    await conn.execute(
                        "UPDATE personal_keys SET material = $2, wrapped = true "
                        "WHERE key_id = $1", row["key_id"],
                        _wrap(self._kek, row["key_id"], row["material"]))

    async def load(self) -> PersonalCipher:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT key_id, purpose, material, wrapped, current FROM personal_keys")
        keys: dict[str, bytes] = {}
        current, lookup = None, None
        for row in rows:
            key = bytes(row["material"])
            if row["wrapped"]:
                if self._kek is None:
                    raise PersonalKeysError("the personal data keys are wrapped: set "
                                    "SEATSERVER_PERSONAL_DATA_KEK to open them")
                key = _unwrap(self._kek, row["key_id"], key)
            if row["purpose"] == "lookup":
                lookup = key
            else:
                keys[row["key_id"]] = key
                current = row["key_id"] if row["current"] else current
        if current is None or lookup is None:
            raise PersonalKeysError("no personal data keys stored yet")
        return PersonalCipher(keys, current, lookup)

    async def rotate(self) -> str:
        """A new current data key; the old ones stay to open old values. Its id."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("LOCK TABLE personal_keys IN SHARE ROW EXCLUSIVE MODE")
            number = await conn.fetchval(
                "SELECT coalesce(max(substr(key_id, 2)::int), 0) + 1 FROM personal_keys "
                "WHERE purpose = 'data' AND key_id ~ '^d[0-9]+$'")
            key_id = f"d{number}"
            material, wrapped = self._material(key_id, new_key())
            await conn.execute("UPDATE personal_keys SET current = false "
                               "WHERE purpose = 'data' AND current")
            await conn.execute(
                "INSERT INTO personal_keys (key_id, purpose, material, wrapped, current) "
                "VALUES ($1, 'data', $2, $3, true)", key_id, material, wrapped)
        return key_id


    async def retire(self) -> list[str]:
        """Delete the data keys that are not current (once no value uses
        them: ``seatserver keys rotate --retire`` checks first); their ids."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "DELETE FROM personal_keys WHERE purpose = 'data' AND NOT current "
                "RETURNING key_id")
        return sorted(r["key_id"] for r in rows)


class PersonalKeys(BackgroundService):
    """The keys this instance seals and opens personal data with.

    Enter it before serving: that loads (or generates) the keys; stored keys
    are reloaded every ``refresh_s`` so a rotation reaches every instance.
    """

    def __init__(self, store: PersonalKeyStore | None, configured: PersonalCipher | None,
                 *, refresh_s: float = 10.0) -> None:
        self._store = store
        self._cipher = configured
        self._configured = configured is not None
        super().__init__(BackgroundTask.every("reloading personal data keys", refresh_s,
                                              self.load))

    @classmethod
    def of(cls, cipher: PersonalCipher) -> PersonalKeys:
        """Fixed keys, no database (tools, and tests of one part)."""
        return cls(None, cipher)

    @property
    def store(self) -> PersonalKeyStore | None:
        """The stored keys' store; None when the keys are configured."""
        return None if self._configured else self._store

    @property
    def cipher(self) -> PersonalCipher:
        if self._cipher is None:
            raise LookupError("no personal data keys loaded (PersonalKeys not entered?)")
        return self._cipher

    async def load(self) -> None:
        if self._configured or self._store is None:
            return
        self._cipher = await self._store.load()

    async def prepare(self) -> None:
        if self._configured or self._store is None:
            return
        await self._store.ensure()
        await self.load()
