"""PrivacyStore: what the server holds about a person, and erasing it.

The export reads every table that has a ``user_id`` (or names the user in
its rows): the profile, sessions (when, never their tokens), bookings with
their seats, payments and door scans, reviews, idempotency keys, pending
e-mail changes, messages sent to the user (their kind and times, never the
one-time secrets in them) and the audit entries by or about the user. Each
list is bounded (``EXPORT_LIMITS``): a list cut short is named in
``truncated``, so a client knows to ask an admin for the rest.

Erasure keeps the user's row and everything accounting needs (bookings,
their seats and amounts, payments, the audit log) but removes what names the
person: e-mail, name, phone and password on the user, the contact e-mail and
phone on every booking, the e-mail addresses in the audit log's entries about
the user, and the user's messages, sessions, tokens, idempotency keys,
two-factor secrets and reviews. Reviews are removed, not anonymised: their
text is the person's own words and may name them. A booking still waiting
for its payment blocks erasure (``in_use``): the payment may yet arrive and
must find its booking's buyer; it is paid or expires within the hold time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from seatserver.accounts.sessions import token_hash
from seatserver.accounts.tokens import EMAIL_FIELD
from seatserver.audit import Actor, insert_audit
from seatserver.errors import InUse, LastAdmin, NotFound
from seatserver.personal.cipher import PersonalCipher
from seatserver.personal.keys import PersonalKeys
from seatserver.personal.rotation import OUTBOX_FIELD

# The most rows of each list one export carries.
EXPORT_LIMITS = {"sessions": 100, "bookings": 1000, "reviews": 1000, "audit": 2000,
                 "messages": 1000, "idempotency_keys": 1000}
# Audit detail keys that may hold an e-mail address (removed on erasure).
_ADDRESS_KEYS = ("email", "to")


@dataclass(frozen=True, slots=True)
class Erased:
    user_id: int
    bookings_anonymised: int
    reviews_removed: int


def _rows(rows: list[asyncpg.Record], name: str, truncated: list[str]) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts, cut to the list's limit (named in ``truncated``)."""
    limit = EXPORT_LIMITS[name]
    if len(rows) > limit:
        truncated.append(name)
    return [_plain(dict(r)) for r in rows[:limit]]


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """jsonb columns arrive as text: decode them so the export nests them."""
    return {k: orjson.loads(v) if k in ("detail", "payments", "seats") and isinstance(v, str)
            else v for k, v in row.items()}


_PROFILE = """SELECT id, kind, email_verified, created_at, updated_at, disabled_at,
                     EXISTS (SELECT 1 FROM staff_mfa m WHERE m.user_id = users.id
                             AND m.confirmed_at IS NOT NULL) AS two_factor
              FROM users WHERE id = $1 AND erased_at IS NULL"""

_BOOKINGS = """
SELECT b.reference, b.status, b.showtime_id, s.starts_at, m.title AS movie, b.amount,
       b.currency, b.contact_email_sealed, b.contact_email, b.contact_phone_sealed,
       b.contact_phone, b.created_at, b.updated_at,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('seat', bs.seat_id, 'type', bs.seat_type,
                                                     'amount', bs.amount, 'active', bs.active)
                                  ORDER BY bs.seat_id), '[]'::jsonb)
        FROM booking_seats bs WHERE bs.booking_id = b.id)::text AS seats,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'provider', p.provider, 'order_id', p.provider_order_id,
                   'status', p.status, 'amount', p.amount, 'currency', p.currency,
                   'refunded_amount', p.refunded_amount, 'created_at', p.created_at)
                   ORDER BY p.id), '[]'::jsonb)
        FROM payments p WHERE p.booking_id = b.id)::text AS payments,
       (SELECT t.admitted_at FROM ticket_scans t WHERE t.booking_id = b.id) AS admitted_at
FROM bookings b JOIN showtimes s ON s.id = b.showtime_id JOIN movies m ON m.id = s.movie_id
WHERE b.user_id = $1 ORDER BY b.created_at DESC, b.id DESC LIMIT $2"""

# By the user, about the user's account (an admin's change, a guest merged
# into it), or about one of the user's bookings.
_AUDIT = """
SELECT at, actor, action, remote, detail::text AS detail FROM audit_log
WHERE actor = 'user:' || $1::bigint::text
   OR detail->>'user_id' = $1::bigint::text OR detail->>'guest' = $1::bigint::text
   OR booking_id IN (SELECT id FROM bookings WHERE user_id = $1)
ORDER BY id DESC LIMIT $2"""


def _opened(cipher: PersonalCipher, row: Mapping[str, Any], name: str, field: str,
            key: str) -> str | None:
    """A value from its sealed column, else (a row not sealed yet) its clear one."""
    sealed = row[f"{name}_sealed"]
    return cipher.open(sealed, field, key) if sealed is not None else row[name]


class PrivacyStore:
    def __init__(self, pool: asyncpg.Pool, keys: PersonalKeys) -> None:
        self._pool = pool
        self._keys = keys

    async def export(self, user_id: int, *, session: str | None) -> dict[str, Any]:
        """Everything about ``user_id``, read in one snapshot (repeatable read)."""
        truncated: list[str] = []
        cipher = self._keys.cipher
        async with self._pool.acquire() as conn, conn.transaction(
                isolation="repeatable_read", readonly=True):
            profile = await conn.fetchrow(_PROFILE, user_id)
            if profile is None:
                raise NotFound("this account no longer exists")
            account = await conn.fetchrow(
                "SELECT id, email_sealed, email, name_sealed, name, phone_sealed, phone "
                "FROM users WHERE id = $1", user_id)

            async def rows(name: str, query: str) -> list[dict[str, Any]]:
                found = await conn.fetch(query, user_id, EXPORT_LIMITS[name] + 1)
                return _rows(found, name, truncated)

            sessions = await conn.fetch(
                """SELECT created_at, expires_at, mfa_at, token_hash = $3 AS current
                   FROM sessions WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2""",
                user_id, EXPORT_LIMITS["sessions"] + 1,
                token_hash(session) if session else b"")
            body: dict[str, Any] = {
                "exported_at": datetime.now(UTC),
                "user": {**_plain(dict(profile)), **{
                    name: _opened(cipher, account, name, f"users.{name}", str(user_id))
                    for name in ("email", "name", "phone")}},
                "pending_email_changes": [
                    {"email": cipher.open(r["email_sealed"], EMAIL_FIELD,
                                          bytes(r["token_hash"]).hex())
                     if r["email_sealed"] else r["email"],
                     "created_at": r["created_at"], "expires_at": r["expires_at"]}
                    for r in await conn.fetch(
                        """SELECT email_sealed, email, token_hash, created_at, expires_at
                           FROM account_tokens
                           WHERE user_id = $1 AND purpose = 'verify_email' AND used_at IS NULL
                             AND expires_at > now() ORDER BY created_at""", user_id)],
                "sessions": _rows(sessions, "sessions", truncated),
                "bookings": await rows("bookings", _BOOKINGS),
                "reviews": await rows("reviews", """
                    SELECT r.movie_id, m.title AS movie, r.stars, r.body, r.hidden,
                           r.created_at, r.updated_at
                    FROM reviews r JOIN movies m ON m.id = r.movie_id
                    WHERE r.user_id = $1 ORDER BY r.id DESC LIMIT $2"""),
                "messages": await rows("messages", """
                    SELECT kind, payload->>'to' AS "to", created_at, sent_at FROM outbox
                    WHERE payload->>'user_id' = $1::bigint::text ORDER BY id DESC LIMIT $2"""),
                "idempotency_keys": await rows("idempotency_keys", """
                    SELECT key, status, created_at FROM idempotency_keys
                    WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2"""),
                "audit": await rows("audit", _AUDIT),
            }
        for booking in body["bookings"]:
            for name in ("contact_email", "contact_phone"):
                booking[name] = _opened(cipher, booking, name, f"bookings.{name}",
                                        booking["reference"])
                del booking[f"{name}_sealed"]
        for message in body["messages"]:
            if message["to"] and message["to"].startswith("v1:"):
                message["to"] = cipher.open(message["to"], OUTBOX_FIELD, str(user_id))
        body["truncated"] = truncated
        return body

    async def erase(self, user_id: int, *, actor: Actor, reason: str | None,
                    staff_allowed: bool) -> Erased:
        """Erase ``user_id`` (see the module's docstring), audited as ``actor``.

        ``staff_allowed`` False refuses staff accounts (an admin erasing on
        request erases customers and guests; staff are changed in the staff
        admin first). The last admin can never be erased.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            kind = await conn.fetchval(
                "SELECT kind FROM users WHERE id = $1 AND erased_at IS NULL FOR UPDATE",
                user_id)
            if kind is None:
                raise NotFound("no such account (or it was erased already)")
            await _check_erasable(conn, user_id, kind, staff_allowed=staff_allowed)
            bookings = await conn.fetchval(
                """WITH done AS (UPDATE bookings SET contact_email = NULL, contact_phone = NULL,
                                        contact_email_sealed = NULL,
                                        contact_phone_sealed = NULL, updated_at = now()
                                 WHERE user_id = $1 RETURNING 1)
                   SELECT count(*) FROM done""", user_id)
            reviews = await conn.fetchval(
                "WITH done AS (DELETE FROM reviews WHERE user_id = $1 RETURNING 1) "
                "SELECT count(*) FROM done", user_id)
            for table in ("sessions", "account_tokens", "idempotency_keys", "staff_mfa",
                          "mfa_recovery_codes"):
                await conn.execute(f"DELETE FROM {table} WHERE user_id = $1", user_id)
            await conn.execute("DELETE FROM outbox WHERE payload->>'user_id' = $1::text",
                               str(user_id))
            await conn.execute(
                """UPDATE audit_log SET detail = detail - $2::text[]
                   WHERE actor = 'user:' || $1::text OR detail->>'user_id' = $1::text""",
                str(user_id), list(_ADDRESS_KEYS))
            await conn.execute(
                """UPDATE users SET email = NULL, name = NULL, phone = NULL,
                          email_sealed = NULL, email_hash = NULL, name_sealed = NULL,
                          phone_sealed = NULL, password_hash = NULL, email_verified = false,
                          disabled_at = coalesce(disabled_at, now()), erased_at = now(),
                          updated_at = now()
                   WHERE id = $1""", user_id)
            detail: dict[str, Any] = {"user_id": user_id, "kind": kind,
                                      "bookings_anonymised": bookings,
                                      "reviews_removed": reviews}
            if reason is not None:
                detail["reason"] = reason
            await insert_audit(conn, actor=actor.name, action="account.erased",
                               remote=actor.remote, detail=detail)
        return Erased(user_id, bookings, reviews)


async def _check_erasable(conn: asyncpg.Connection, user_id: int, kind: str, *,
                          staff_allowed: bool) -> None:
    if kind in ("admin", "kiosk") and not staff_allowed:
        raise InUse("a staff account: take its staff role away in /api/admin/staff first")
    if kind == "admin":
        others = await conn.fetchval(
            """SELECT count(*) FROM users WHERE kind = 'admin' AND id <> $1
               AND disabled_at IS NULL AND erased_at IS NULL""", user_id)
        if not others:
            raise LastAdmin("the last admin cannot be erased: make another admin first")
    pending = await conn.fetch(
        "SELECT reference FROM bookings WHERE user_id = $1 AND status = 'pending'", user_id)
    if pending:
        raise InUse("a booking waits for its payment "
                    f"({', '.join(r['reference'] for r in pending)}): pay or cancel it, "
                    "or wait for it to expire, then try again")
