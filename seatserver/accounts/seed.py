"""The demo's staff accounts: an admin and a kiosk board, created once.

Their passwords come from ``SEATSERVER_ADMIN_PASSWORD`` and
``SEATSERVER_KIOSK_PASSWORD``; when unset, a random one is generated and
returned so that the command can print it, once: only its hash is stored.
An account that exists is left alone, its password included.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from seatserver.accounts.passwords import Passwords
from seatserver.accounts.store import AccountStore
from seatserver.personal.keys import PersonalKeys

ADMIN_EMAIL = "admin@example.com"
KIOSK_EMAIL = "kiosk@example.com"


@dataclass(frozen=True, slots=True)
class StaffAccount:
    email: str
    kind: str
    created: bool
    # Set only when generated here: the one time it can be shown.
    generated_password: str | None


async def seed_staff(pool: asyncpg.Pool, keys: PersonalKeys, *, admin_password: str | None,
                     kiosk_password: str | None) -> list[StaffAccount]:
    store = AccountStore(pool, keys, email_ttl=timedelta(days=1),
                         reset_ttl=timedelta(hours=1))
    passwords = Passwords(concurrency=1)
    done = []
    for email, kind, given in ((ADMIN_EMAIL, "admin", admin_password),
                               (KIOSK_EMAIL, "kiosk", kiosk_password)):
        if await store.credentials(email) is not None:
            done.append(StaffAccount(email, kind, False, None))
            continue
        password = given or secrets.token_urlsafe(12)
        created = await store.ensure_staff(email, kind, await passwords.hash(password))
        done.append(StaffAccount(email, kind, created,
                                 password if created and not given else None))
    return done
