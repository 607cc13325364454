"""Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP), from the
standard library: the whole algorithm is an HMAC and a truncation, and the
verifier needs the step a code matched (to refuse its replay), which is the
part a library would hide.

A code is accepted for the current 30-second step or one step either side
(clock drift of an authenticator app), and only for a step later than the
last one accepted (``after``), so each code works once.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

STEP_S = 30
DIGITS = 6
DRIFT_STEPS = 1
SECRET_BYTES = 20  # 160 bits, as RFC 4226 recommends for HMAC-SHA1


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def secret_text(secret: bytes) -> str:
    """The secret as authenticator apps take it typed in: base32, no padding."""
    return base64.b32encode(secret).decode().rstrip("=")


def hotp(secret: bytes, counter: int, *, digits: int = DIGITS,
         digest: str = "sha1") -> str:
    mac = hmac.new(secret, struct.pack(">Q", counter), digest).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def step_at(unix_s: float) -> int:
    return int(unix_s // STEP_S)


def totp(secret: bytes, unix_s: float, *, digits: int = DIGITS, digest: str = "sha1") -> str:
    return hotp(secret, step_at(unix_s), digits=digits, digest=digest)


def matching_step(secret: bytes, code: str, unix_s: float, *, after: int) -> int | None:
    """The step (within the drift window, later than ``after``) whose code
    ``code`` is; None when there is none. ``code`` must already be six ASCII
    digits. Every candidate is compared in constant time."""
    now = step_at(unix_s)
    found = None
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if hmac.compare_digest(hotp(secret, step), code) and step > after and found is None:
            found = step
    return found


def provisioning_uri(secret: bytes, *, account: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from the QR code."""
    label = quote(f"{issuer}:{account}", safe="@:")
    query = urlencode({"secret": secret_text(secret), "issuer": issuer,
                       "algorithm": "SHA1", "digits": DIGITS, "period": STEP_S})
    return f"otpauth://totp/{label}?{query}"
