"""Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP), computed by
pyotp; this module keeps the project's interface over it: secrets as bytes, and
a verifier that answers the step a code matched (to refuse its replay).

A code is accepted for the current 30-second step or one step either side
(clock drift of an authenticator app), and only for a step later than the
last one accepted (``after``), so each code works once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

import pyotp

STEP_S = 30
DIGITS = 6
DRIFT_STEPS = 1
SECRET_BYTES = 20  # 160 bits, as RFC 4226 recommends for HMAC-SHA1

# pyotp takes the hash as a constructor; we name it, as the RFC's vectors do.
_DIGESTS: dict[str, Any] = {"sha1": hashlib.sha1, "sha256": hashlib.sha256,
                            "sha512": hashlib.sha512}


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def secret_text(secret: bytes) -> str:
    """The secret as authenticator apps take it typed in: base32, no padding."""
    return base64.b32encode(secret).decode().rstrip("=")


def _totp(secret: bytes, *, digits: int = DIGITS, digest: str = "sha1") -> pyotp.TOTP:
    return pyotp.TOTP(secret_text(secret), digits=digits, digest=_DIGESTS[digest],
                      interval=STEP_S)


def hotp(secret: bytes, counter: int, *, digits: int = DIGITS,
         digest: str = "sha1") -> str:
    return pyotp.HOTP(secret_text(secret), digits=digits, digest=_DIGESTS[digest]).at(counter)


def step_at(unix_s: float) -> int:
    return int(unix_s // STEP_S)


def totp(secret: bytes, unix_s: float, *, digits: int = DIGITS, digest: str = "sha1") -> str:
    return _totp(secret, digits=digits, digest=digest).at(unix_s)


def matching_step(secret: bytes, code: str, unix_s: float, *, after: int) -> int | None:
    """The step (within the drift window, later than ``after``) whose code
    ``code`` is; None when there is none. ``code`` must already be six ASCII
    digits. Every candidate is compared in constant time.

    Not pyotp's ``verify_and_get_timecode``: it answers the first step of the
    window that matches, even one at or before ``after``, where a later step
    of the window may match too."""
    generator = _totp(secret)
    now = step_at(unix_s)
    found = None
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if (hmac.compare_digest(generator.generate_otp(step), code) and step > after
                and found is None):
            found = step
    return found


def provisioning_uri(secret: bytes, *, account: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from the QR code
    (pyotp leaves out the algorithm, digits and period, as they are the
    defaults: SHA1, 6, 30)."""
    return _totp(secret).provisioning_uri(name=account, issuer_name=issuer)
