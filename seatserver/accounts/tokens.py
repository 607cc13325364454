"""One-time tokens sent by message: confirming an e-mail address, resetting a password.

``issue`` stores only the token's sha256 and puts the message in the outbox
in the caller's transaction, so the message exists exactly when the token
does. The token itself travels in the outbox row's ``secret`` field, which
the outbox worker erases once the message is delivered: it stays readable in
the database only for the second or so until then. ``redeem`` takes a token
once, and only before it expires.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import asyncpg

from seatserver.accounts.sessions import token_hash
from seatserver.errors import InvalidToken
from seatserver.personal.cipher import PersonalCipher
from seatserver.personal.rotation import OUTBOX_FIELD

# The field a token's address is sealed as (bound to the token's hash).
EMAIL_FIELD = "account_tokens.email"

Purpose = Literal["verify_email", "reset_password"]
# The outbox kind of each purpose's message (see accounts.messages).
MESSAGE_KINDS: dict[str, str] = {"verify_email": "account_verify_email",
                                 "reset_password": "account_reset_password"}
# The notice to the owner of an address another account asked to use.
EMAIL_IN_USE_KIND = "account_email_in_use"


@dataclass(frozen=True, slots=True)
class Redeemed:
    user_id: int
    email: str


def outbox_address(cipher: PersonalCipher, user_id: int, email: str) -> str:
    """An address as an outbox payload carries it: sealed, bound to the user."""
    return cipher.seal(email, OUTBOX_FIELD, str(user_id))


async def issue(conn: asyncpg.Connection, cipher: PersonalCipher, *, user_id: int,
                purpose: Purpose, email: str, ttl: timedelta, send: bool = True) -> None:
    """A new token for ``purpose``, replacing the user's unused ones, and its
    message; with ``send`` False no message, so nobody ever learns the token
    (an address change that must look requested but can never be confirmed)."""
    token = secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + ttl
    await conn.execute(
        "DELETE FROM account_tokens WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
        user_id, purpose)
    hashed = token_hash(token)
    await conn.execute(
        """INSERT INTO account_tokens (token_hash, user_id, purpose, email_sealed, email_hash,
                                       expires_at)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        hashed, user_id, purpose, cipher.seal(email, EMAIL_FIELD, hashed.hex()),
        cipher.email_hash(email), expires_at)
    if not send:
        return
    payload = {"user_id": user_id, "to": outbox_address(cipher, user_id, email),
               "secret": token,
               "expires_at": expires_at.isoformat()}
    await conn.execute("INSERT INTO outbox (kind, payload) VALUES ($1, $2::jsonb)",
                       MESSAGE_KINDS[purpose], json.dumps(payload))


_STALE = ("this link is not valid any more: it was used, has expired, "
          "or a newer one was sent")


async def check(conn: asyncpg.Connection, token: str, purpose: Purpose) -> None:
    live = await conn.fetchval(
        """SELECT 1 FROM account_tokens WHERE token_hash = $1 AND purpose = $2
           AND used_at IS NULL AND expires_at > now()""", token_hash(token), purpose)
    if not live:
        raise InvalidToken(_STALE)


async def redeem(conn: asyncpg.Connection, cipher: PersonalCipher, token: str,
                 purpose: Purpose) -> Redeemed:
    """Use up a live token of ``purpose``; ``invalid_token`` if it is unknown,
    used, expired or for something else. Call inside a transaction."""
    row = await conn.fetchrow(
        """UPDATE account_tokens SET used_at = now()
           WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()
           RETURNING user_id, email_sealed, token_hash""",
        token_hash(token), purpose)
    if row is None:
        raise InvalidToken(_STALE)
    return Redeemed(row["user_id"], cipher.open(row["email_sealed"], EMAIL_FIELD,
                                                bytes(row["token_hash"]).hex()))


async def pending_email(conn: asyncpg.Connection, cipher: PersonalCipher,
                        user_id: int) -> str | None:
    """An address the user asked to change to and has not confirmed yet."""
    row = await conn.fetchrow(
        """SELECT t.email_sealed, t.token_hash FROM account_tokens t
           JOIN users u ON u.id = t.user_id
           WHERE t.user_id = $1 AND t.purpose = 'verify_email' AND t.used_at IS NULL
             AND t.expires_at > now() AND t.email_hash IS DISTINCT FROM u.email_hash
           ORDER BY t.created_at DESC LIMIT 1""", user_id)
    if row is None:
        return None
    return cipher.open(row["email_sealed"], EMAIL_FIELD, bytes(row["token_hash"]).hex())
