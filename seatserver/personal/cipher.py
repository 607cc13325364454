"""Personal data at rest: names, e-mail addresses and phone numbers sealed
with AES-GCM, and e-mail look-ups through a keyed hash.

A sealed value is text, ``v1:<key id>:<nonce>:<ciphertext>`` (nonce and
ciphertext in unpadded base64url; the ciphertext ends with GCM's 16-byte
tag). Its associated data names the format, the key id, the field
(``users.email``) and the row (``users.id``, ``bookings.reference``...): a
value copied into another row or column, or whose key id was edited, fails
to open instead of showing someone else's address. Equality and uniqueness
of e-mail addresses go through ``email_hash``: HMAC-SHA256 of the normalised
address (NFC, trimmed, lower case) under a key of its own, so a dump alone
cannot be searched for an address, and the lookup key never changes (a new
one would need every hash recomputed; rotate the data keys instead).

Keys are 256-bit. The data keys are named by their id; one is current and
seals every new value, the others only open. ``seatserver keys rotate`` makes
a new current key (generated keys) and re-seals every value under it in
batches (``seatserver.personal.rotation``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


# The sealed fields, named as their associated data names them.
USERS_EMAIL, USERS_NAME, USERS_PHONE = "users.email", "users.name", "users.phone"
BOOKINGS_EMAIL, BOOKINGS_PHONE = "bookings.contact_email", "bookings.contact_phone"


class PersonalDataError(Exception):
    """A sealed value that cannot be opened: tampered with, moved to another
    row or field, or sealed with a key this server does not have."""


def normal_email(email: str) -> str:
    """The form an address is compared in: NFC, no surrounding space, lower case."""
    return unicodedata.normalize("NFC", email.strip()).lower()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decode_key(text: str, what: str) -> bytes:
    """A key as configured: 32 bytes in base64 (standard or url-safe)."""
    try:
        key = base64.b64decode(text.strip().replace("-", "+").replace("_", "/")
                               + "=" * (-len(text.strip()) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what}: not base64") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"{what}: must be {KEY_BYTES} bytes, got {len(key)}")
    return key


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


@dataclass(frozen=True, slots=True)
class Sealed:
    key_id: str
    nonce: bytes
    ciphertext: bytes


def parse(text: str) -> Sealed:
    parts = text.split(":")
    if len(parts) != 4 or parts[0] != FORMAT or not KEY_ID.match(parts[1]):
        raise PersonalDataError("not a sealed value of format v1")
    try:
        nonce, ciphertext = _unb64(parts[2]), _unb64(parts[3])
    except (binascii.Error, ValueError):
        raise PersonalDataError("a sealed value with broken base64") from None
    if len(nonce) != NONCE_BYTES or len(ciphertext) < 16:
        raise PersonalDataError("a sealed value of the wrong size")
    return Sealed(parts[1], nonce, ciphertext)


def key_id_of(text: str) -> str:
    return parse(text).key_id


class PersonalCipher:
    """Seals and opens personal values with a set of data keys (one current),
    and hashes e-mail addresses with the lookup key."""

    def __init__(self, keys: Mapping[str, bytes], current: str, lookup: bytes) -> None:
        if current not in keys:
            raise ValueError(f"the current key {current!r} is not among the keys")
        for key_id, key in keys.items():
            if not KEY_ID.match(key_id) or len(key) != KEY_BYTES:
                raise ValueError(f"bad personal data key {key_id!r}")
        if len(lookup) != KEY_BYTES:
            raise ValueError("the lookup key must be 32 bytes")
        self._aead = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._current = current
        self._lookup = lookup

    @property
    def current(self) -> str:
        return self._current

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._aead)

    @staticmethod
    def _context(key_id: str, field: str, row: object) -> bytes:
        return f"seatserver/{FORMAT}|{key_id}|{field}|{row}".encode()

    def seal(self, value: str, field: str, row: object) -> str:
        """``value`` sealed under the current key, bound to ``field`` and ``row``."""
        return self.seal_bytes(value.encode(), field, row)

    def seal_bytes(self, data: bytes, field: str, row: object) -> str:
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self._aead[self._current].encrypt(
            nonce, data, self._context(self._current, field, row))
        return f"{FORMAT}:{self._current}:{_b64(nonce)}:{_b64(ciphertext)}"

    def seal_optional(self, value: str | None, field: str, row: object) -> str | None:
        return None if value is None else self.seal(value, field, row)

    def open(self, text: str, field: str, row: object) -> str:
        return self.open_bytes(text, field, row).decode()

    def open_bytes(self, text: str, field: str, row: object) -> bytes:
        sealed = parse(text)
        aead = self._aead.get(sealed.key_id)
        if aead is None:
            raise PersonalDataError(f"sealed with the unknown key {sealed.key_id!r}")
        try:
            plain = aead.decrypt(sealed.nonce, sealed.ciphertext,
                                 self._context(sealed.key_id, field, row))
        except InvalidTag:
            raise PersonalDataError(f"{field} of {row} does not open: tampered with or "
                                    "moved from another row") from None
        return plain

    def open_optional(self, text: str | None, field: str, row: object) -> str | None:
        return None if text is None else self.open(text, field, row)

    def email_hash(self, email: str) -> bytes:
        """The keyed hash an address is found and kept unique by."""
        return hmac.new(self._lookup, normal_email(email).encode(), hashlib.sha256).digest()
