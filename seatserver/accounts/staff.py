"""Staff accounts (admins, box-office staff and kiosk boards): the list, invitations, role
changes, disabling; every change audited with who made it.

Role changes take a lock on every active admin row first, so two admins
demoting each other at once cannot leave the cinema with none: the second
sees the first's change. An admin cannot take away their own admin role or
disable themselves (another admin must), which also keeps the last one.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from seatserver.accounts import tokens
from seatserver.accounts.passwords import Passwords
from seatserver.accounts.sessions import close_sessions
from seatserver.accounts.store import EMAIL, NAME, new_user_id, sealed_profile
from seatserver.audit import Actor, AuditEntry, write_audit
from seatserver.errors import EmailTaken, LastAdmin, NotFound
from seatserver.personal.cipher import PersonalCipher
from seatserver.personal.keys import PersonalKeys

STAFF_KINDS = ("admin", "box_office", "kiosk")
_COLUMNS = """u.id, u.email_sealed, u.email, u.name_sealed, u.name, u.kind,
              u.disabled_at IS NOT NULL AS disabled,
              u.created_at,
              EXISTS (SELECT 1 FROM staff_mfa m
                      WHERE m.user_id = u.id AND m.confirmed_at IS NOT NULL) AS mfa_enrolled"""


@dataclass(frozen=True, slots=True)
class StaffMember:
    id: int
    email: str
    name: str | None
    kind: str
    disabled: bool
    mfa_enrolled: bool
    created_at: datetime


def _member(cipher: PersonalCipher, row: asyncpg.Record) -> StaffMember:
    key = str(row["id"])
    email = (cipher.open(row["email_sealed"], EMAIL, key) if row["email_sealed"]
             else row["email"])
    name = (cipher.open(row["name_sealed"], NAME, key) if row["name_sealed"]
            else row["name"])
    return StaffMember(row["id"], email, name, row["kind"], row["disabled"],
                       row["mfa_enrolled"], row["created_at"])


class StaffStore:
    def __init__(self, pool: asyncpg.Pool, keys: PersonalKeys, *,
                 invite_ttl: timedelta) -> None:
        self._pool = pool
        self._keys = keys
        self._invite_ttl = invite_ttl

    async def list(self) -> list[StaffMember]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM users u "
                "WHERE u.kind = ANY($1::text[]) AND u.erased_at IS NULL",  # erased: gone
                list(STAFF_KINDS))
        # Sorted here: the addresses are sealed in the database.
        members = [_member(self._keys.cipher, row) for row in rows]
        return sorted(members, key=lambda m: (m.kind, m.email.lower()))

    async def invite(self, email: str, name: str | None, kind: str, *,
                     actor: Actor) -> StaffMember:
        """A staff account with a random password nobody knows, and a
        password-reset link sent to ``email``: using it sets the password."""
        unusable = await Passwords(concurrency=1).hash(secrets.token_urlsafe(32))
        cipher = self._keys.cipher
        async with self._pool.acquire() as conn, conn.transaction():
            user_id = await new_user_id(conn)
            sealed, hashed, sealed_name, _ = sealed_profile(cipher, user_id, email, name, None)
            try:
                await conn.execute(
                    """INSERT INTO users (id, kind, email_sealed, email_hash, password_hash,
                                          name_sealed)
                       VALUES ($1, $2, $3, $4, $5, $6)""", user_id, kind, sealed, hashed,
                    unusable, sealed_name)
            except asyncpg.UniqueViolationError:
                raise EmailTaken("an account with this e-mail address exists: change "
                                 "its role instead") from None
            await tokens.issue(conn, cipher, user_id=user_id, purpose="reset_password",
                               email=email, ttl=self._invite_ttl)
            member = _member(cipher, await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM users u WHERE u.id = $1", user_id))
            await write_audit(conn, AuditEntry(actor, "staff.invited", after=_shown(member)))
        return member

    async def change(self, user_id: int, *, kind: str | None, disabled: bool | None,
                     actor: Actor, actor_id: int) -> StaffMember:
        """Set the account's role and/or whether it is disabled; its sessions
        end when either changes (new privileges, new log-in)."""
        async with self._pool.acquire() as conn, conn.transaction():
            admins = {r["id"] for r in await conn.fetch(
                """SELECT id FROM users WHERE kind = 'admin' AND disabled_at IS NULL
                   ORDER BY id FOR UPDATE""")}
            row = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM users u WHERE u.id = $1 AND u.kind <> 'guest' "
                "FOR UPDATE OF u", user_id)
            if row is None:
                raise NotFound(f"no account {user_id}")
            before = _member(self._keys.cipher, row)
            after_kind = kind or before.kind
            after_disabled = before.disabled if disabled is None else disabled
            stays_admin = after_kind == "admin" and not after_disabled
            if user_id in admins and not stays_admin:
                if user_id == actor_id:
                    raise LastAdmin("you cannot take away your own admin role or disable "
                                    "yourself: ask another admin")
                if admins == {user_id}:
                    raise LastAdmin("this is the last admin: make another admin first")
            updated = await conn.fetchrow(
                f"""UPDATE users u SET kind = $2, updated_at = now(),
                       disabled_at = CASE WHEN $3 THEN coalesce(disabled_at, now()) END
                    WHERE u.id = $1 RETURNING {_COLUMNS}""", user_id, after_kind,
                after_disabled)
            after = _member(self._keys.cipher, updated)
            if (after.kind, after.disabled) != (before.kind, before.disabled):
                await close_sessions(conn, user_id)
            await write_audit(conn, AuditEntry(actor, "staff.changed", before=_shown(before),
                                               after=_shown(after)))
        return after


def _shown(member: StaffMember) -> dict[str, object]:
    # No address: the audit log keeps no personal data in clear.
    return {"id": member.id, "kind": member.kind,
            "disabled": member.disabled, "mfa_enrolled": member.mfa_enrolled}
