"""AccountStore: users, their credentials and profile, in PostgreSQL.

Every step that changes who a session stands for (sign-up, log-in, reset)
happens in one transaction with the sessions it ends and opens, so a crash
never leaves a browser logged in half-way. E-mail addresses are unique
regardless of case: they are kept sealed (``seatserver.personal``) and found
and kept unique by their keyed hash (a unique index on ``email_hash``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from seatserver.accounts import tokens
from seatserver.accounts.sessions import NewSession, close_sessions, open_session, token_hash
from seatserver.audit import insert_audit
from seatserver.errors import EmailTaken, InvalidToken, Unauthorized
from seatserver.personal.cipher import USERS_EMAIL, USERS_NAME, USERS_PHONE, PersonalCipher
from seatserver.personal.erased import refuse_erased
from seatserver.personal.keys import PersonalKeys

# The fields a user's personal values are sealed as (bound to the user's id).
EMAIL, NAME, PHONE = USERS_EMAIL, USERS_NAME, USERS_PHONE

# The clear columns are read too: rows written before migration 0016 keep
# their values there until the server seals them as it starts.
_COLUMNS = """id, kind, email_sealed, email_verified, name_sealed, phone_sealed, created_at,
              email, name, phone"""
_ACCOUNT = f"SELECT {_COLUMNS} FROM users"


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    kind: str
    email: str | None
    email_verified: bool
    name: str | None
    phone: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Credentials:
    user_id: int
    kind: str
    password_hash: str


@dataclass(frozen=True, slots=True)
class NewAccount:
    email: str
    password_hash: str
    name: str | None
    phone: str | None


@dataclass(frozen=True, slots=True)
class Linked:
    """What a guest brought into the account it logged in to."""

    bookings: list[str]


def _account(cipher: PersonalCipher, row: asyncpg.Record) -> Account:
    key = str(row["id"])

    def value(column: str, field: str) -> str | None:
        sealed = row[f"{column}_sealed"]
        return cipher.open(sealed, field, key) if sealed is not None else row[column]
    return Account(row["id"], row["kind"], value("email", EMAIL), row["email_verified"],
                   value("name", NAME), value("phone", PHONE), row["created_at"])


def sealed_profile(cipher: PersonalCipher, user_id: int, email: str, name: str | None,
                   phone: str | None) -> tuple[str, bytes, str | None, str | None]:
    """A new account's e-mail (sealed and hashed), name and phone, bound to its id."""
    key = str(user_id)
    return (cipher.seal(email, EMAIL, key), cipher.email_hash(email),
            cipher.seal_optional(name, NAME, key), cipher.seal_optional(phone, PHONE, key))


async def new_user_id(conn: asyncpg.Connection) -> int:
    """An id for a user about to be inserted: its sealed values are bound to it."""
    user_id: int = await conn.fetchval(
        "SELECT nextval(pg_get_serial_sequence('users', 'id'))")
    return user_id


def _with_password(profile: tuple[str, bytes, str | None, str | None], password_hash: str
                   ) -> tuple[str, bytes, str, str | None, str | None]:
    email, hashed, name, phone = profile
    return email, hashed, password_hash, name, phone


async def _audit(conn: asyncpg.Connection, user_id: int, action: str, remote: str | None,
                 detail: dict[str, Any]) -> None:
    await insert_audit(conn, actor=f"user:{user_id}", action=action, remote=remote,
                       detail=detail)


class AccountStore:
    def __init__(self, pool: asyncpg.Pool, keys: PersonalKeys, *, email_ttl: timedelta,
                 reset_ttl: timedelta) -> None:
        self._pool = pool
        self._keys = keys
        self._email_ttl = email_ttl
        self._reset_ttl = reset_ttl

    async def get(self, user_id: int) -> Account | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(f"{_ACCOUNT} WHERE id = $1", user_id)
        return _account(self._keys.cipher, row) if row else None

    async def pending_email(self, user_id: int) -> str | None:
        async with self._pool.acquire() as conn:
            return await tokens.pending_email(conn, self._keys.cipher, user_id)

    async def credentials(self, email: str) -> Credentials | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                """SELECT id, kind, password_hash FROM users
                   WHERE email_hash = $1 AND disabled_at IS NULL""",
                self._keys.cipher.email_hash(email))
        return Credentials(row["id"], row["kind"], row["password_hash"]) if row else None

    async def register(self, new: NewAccount, *, guest_id: int | None,
                       replacing: str | None, remote: str | None
                       ) -> tuple[Account, NewSession]:
        """A customer account with a fresh session, and a confirmation message.

        From a guest session the guest's own row becomes the account (same
        id), so its holds and bookings are the account's without moving
        anything; its old sessions end, as a new session starts for the new
        privileges. ``replacing`` is the caller's session token otherwise.
        """
        cipher = self._keys.cipher
        async with self._pool.acquire() as conn, conn.transaction():
            try:
                row = await self._upgrade(conn, cipher, guest_id, new) if guest_id else None
                if row is None:
                    user_id = await new_user_id(conn)
                    row = await conn.fetchrow(
                        f"""INSERT INTO users (id, kind, email_sealed, email_hash,
                                               password_hash, name_sealed, phone_sealed)
                            VALUES ($1, 'customer', $2, $3, $4, $5, $6) RETURNING {_COLUMNS}""",
                        user_id, *_with_password(
                            sealed_profile(cipher, user_id, new.email, new.name, new.phone),
                            new.password_hash))
            except asyncpg.UniqueViolationError:
                raise EmailTaken("an account with this e-mail address exists: log in, "
                                 "or reset its password") from None
            account = _account(cipher, row)
            if replacing:
                await conn.execute("DELETE FROM sessions WHERE token_hash = $1",
                                   token_hash(replacing))
            await close_sessions(conn, account.id)
            session = await open_session(conn, account.id)
            await tokens.issue(conn, cipher, user_id=account.id, purpose="verify_email",
                               email=new.email, ttl=self._email_ttl)
            await _audit(conn, account.id, "account.registered", remote,
                         {"from_guest": row["id"] == guest_id})
        return account, session

    @staticmethod
    async def _upgrade(conn: asyncpg.Connection, cipher: PersonalCipher, guest_id: int,
                       new: NewAccount) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await conn.fetchrow(
            f"""UPDATE users SET kind = 'customer', email_sealed = $2, email_hash = $3,
                       password_hash = $4, name_sealed = $5, phone_sealed = $6,
                       updated_at = now()
                WHERE id = $1 AND kind = 'guest' AND erased_at IS NULL
                RETURNING {_COLUMNS}""",
            guest_id, *_with_password(
                sealed_profile(cipher, guest_id, new.email, new.name, new.phone),
                new.password_hash))
        return row

    async def log_in(self, user_id: int, *, guest_id: int | None, replacing: str | None,
                     remote: str | None, mfa: bool = False) -> tuple[NewSession, Linked]:
        """A new session for ``user_id``; the caller's old one ends (no fixation).

        From a guest session, the guest's bookings become the account's and
        the guest's sessions end; its holds in Redis are the caller's to move
        (see GuestLinker), before this and again after it.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            linked = Linked([])
            if guest_id is not None and guest_id != user_id:
                linked = await _take_over(conn, guest_id, user_id)
                await close_sessions(conn, guest_id)
                await _audit(conn, user_id, "account.guest_linked", remote,
                             {"guest": guest_id, "bookings": linked.bookings})
            if replacing:
                await conn.execute("DELETE FROM sessions WHERE token_hash = $1",
                                   token_hash(replacing))
            session = await open_session(conn, user_id, mfa=mfa)
        return session, linked

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
                user_id, password_hash)

    async def update_profile(self, user_id: int, changes: dict[str, str | None]) -> Account:
        """Set ``name`` and/or ``phone`` (None clears); returns the account
        (``Unauthorized`` once it is erased)."""
        assert set(changes) <= {"name", "phone"}, changes
        cipher, key = self._keys.cipher, str(user_id)
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                f"""UPDATE users SET
                       name_sealed = CASE WHEN $2 THEN $3 ELSE name_sealed END,
                       phone_sealed = CASE WHEN $4 THEN $5 ELSE phone_sealed END,
                       updated_at = now()
                    WHERE id = $1 AND erased_at IS NULL RETURNING {_COLUMNS}""",
                user_id, "name" in changes, cipher.seal_optional(changes.get("name"), NAME, key),
                "phone" in changes, cipher.seal_optional(changes.get("phone"), PHONE, key))
        if row is None:  # erased while this request was under way
            raise Unauthorized("this account was erased")
        return _account(cipher, row)

    async def request_email_change(self, user_id: int, email: str, *,
                                   remote: str | None = None) -> None:
        """Send a confirmation link to ``email``; it becomes the account's
        address only when the link is used.

        An address another account has gets no link: its owner is told that
        someone tried to use it instead. The change is recorded as pending
        all the same (with a token nobody is sent), so the caller sees the
        same answer, now and in ``pending_email``, whether the address is
        taken or not: the form tells no one who has an account.
        """
        cipher = self._keys.cipher
        async with self._pool.acquire() as conn, conn.transaction():
            await refuse_erased(conn, user_id)
            owner = await conn.fetchrow(
                f"{_ACCOUNT} WHERE email_hash = $1 AND id <> $2",
                cipher.email_hash(email), user_id)
            await tokens.issue(conn, cipher, user_id=user_id, purpose="verify_email",
                               email=email, ttl=self._email_ttl, send=owner is None)
            if owner is not None:
                # To the owner's address as the owner wrote it.
                to = _account(cipher, owner).email or email
                await conn.execute(
                    "INSERT INTO outbox (kind, payload) VALUES ($1, $2::jsonb)",
                    tokens.EMAIL_IN_USE_KIND,
                    json.dumps({"user_id": owner["id"],
                                "to": tokens.outbox_address(cipher, owner["id"], to)}))
            await _audit(conn, user_id, "account.email_change_requested", remote,
                         {"taken": owner is not None})

    async def cancel_email_change(self, user_id: int) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                """DELETE FROM account_tokens WHERE user_id = $1 AND purpose = 'verify_email'
                   AND used_at IS NULL""", user_id)

    async def confirm_email(self, token: str) -> Account:
        cipher = self._keys.cipher
        async with self._pool.acquire() as conn, conn.transaction():
            redeemed = await tokens.redeem(conn, cipher, token, "verify_email")
            try:
                row = await conn.fetchrow(
                    f"""UPDATE users SET email_sealed = $2, email_hash = $3, email = NULL,
                               email_verified = true, updated_at = now()
                        WHERE id = $1 AND kind <> 'guest' AND erased_at IS NULL
                        RETURNING {_COLUMNS}""", redeemed.user_id,
                    cipher.seal(redeemed.email, EMAIL, str(redeemed.user_id)),
                    cipher.email_hash(redeemed.email))
            except asyncpg.UniqueViolationError:
                raise EmailTaken("another account took this e-mail address meanwhile") from None
            if row is None:
                raise InvalidToken("this link's account no longer exists")
            # No address here: the audit log keeps no personal data in clear.
            await _audit(conn, redeemed.user_id, "account.email_confirmed", None, {})
        return _account(cipher, row)

    async def request_reset(self, email: str) -> bool:
        """Send a reset link if ``email`` is an account's; False (and nothing
        sent) when it is not, which the caller must not reveal."""
        cipher = self._keys.cipher
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT id, email_sealed FROM users WHERE email_hash = $1",
                cipher.email_hash(email))
            if row is None:
                return False
            await tokens.issue(conn, cipher, user_id=row["id"], purpose="reset_password",
                               email=cipher.open(row["email_sealed"], EMAIL, str(row["id"])),
                               ttl=self._reset_ttl)
        return True

    async def check_token(self, token: str, purpose: tokens.Purpose) -> None:
        """``invalid_token`` unless the token is live (without using it up)."""
        async with self._pool.acquire() as conn:
            await tokens.check(conn, token, purpose)

    async def reset_password(self, token: str, password_hash: str, *,
                             remote: str | None) -> None:
        """Set a new password from a reset link; every session of the account
        ends (whoever knew the old password is logged out)."""
        async with self._pool.acquire() as conn, conn.transaction():
            redeemed = await tokens.redeem(conn, self._keys.cipher, token, "reset_password")
            # The link reached this address, which proves it is the owner's.
            await conn.execute(
                """UPDATE users SET password_hash = $2, updated_at = now(),
                          email_verified = email_verified OR email_hash = $3
                   WHERE id = $1 AND erased_at IS NULL""", redeemed.user_id, password_hash,
                self._keys.cipher.email_hash(redeemed.email))
            await close_sessions(conn, redeemed.user_id)
            await _audit(conn, redeemed.user_id, "account.password_reset", remote, {})

    async def ensure_staff(self, email: str, kind: str, password_hash: str) -> bool:
        """Create a staff account (admin, kiosk) unless the address is taken;
        True when created. Never changes an existing account."""
        async with self._pool.acquire() as conn:
            user_id = await new_user_id(conn)
            sealed, hashed, name, _ = sealed_profile(self._keys.cipher, user_id, email,
                                                     kind.capitalize(), None)
            created = await conn.fetchval(
                """INSERT INTO users (id, kind, email_sealed, email_hash, email_verified,
                                      password_hash, name_sealed)
                   VALUES ($1, $2, $3, $4, true, $5, $6)
                   ON CONFLICT (email_hash) WHERE email_hash IS NOT NULL DO NOTHING
                   RETURNING id""", user_id, kind, sealed, hashed, password_hash, name)
        return created is not None


async def _take_over(conn: asyncpg.Connection, guest_id: int, user_id: int) -> Linked:
    """The guest's bookings (and their idempotency keys) become the account's."""
    references = await conn.fetch(
        """UPDATE bookings SET user_id = $2, updated_at = now() WHERE user_id = $1
           RETURNING reference""", guest_id, user_id)
    await conn.execute(
        """UPDATE idempotency_keys k SET user_id = $2 WHERE user_id = $1
           AND NOT EXISTS (SELECT 1 FROM idempotency_keys o
                           WHERE o.user_id = $2 AND o.key = k.key)""", guest_id, user_id)
    return Linked(sorted(r["reference"] for r in references))
