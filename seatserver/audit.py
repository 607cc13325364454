"""The audit log: who changed what, from where, and what it was before and after.

Every change an admin makes through /api/admin/ is written to ``audit_log``
(migrations/0002): ``actor`` is ``user:<id>`` (``system`` for catalog changes
made from code without an admin: scripts, tests), ``remote`` the client's address (as
``TrustedProxies`` judges it), ``detail`` holds ``before`` and ``after`` as
JSON (``null`` for a creation's before and a deletion's after) and any note
(an admin cancel that bypassed the buyer's cut-off says so).

``write_audit`` takes the connection of the change it records: called inside
the change's transaction, the change and its row commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
from pydantic import BaseModel


def _default(value: object) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot write {type(value).__name__} to the audit log")


def as_json(value: object) -> Any:
    """A model, dataclass or plain value as the JSON the audit log stores."""
    return orjson.loads(orjson.dumps(value, default=_default))


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change, as the audit log names them, and from which address."""

    name: str  # "user:<id>" or "system"
    remote: str | None = None

    @classmethod
    def user(cls, user_id: int, remote: str | None) -> Actor:
        return cls(f"user:{user_id}", remote)


SYSTEM = Actor("system")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    actor: Actor
    action: str  # "<entity>.<verb>": "movie.created", "booking.cancelled"
    before: object = None
    after: object = None
    booking_id: int | None = None
    note: dict[str, Any] = field(default_factory=dict)


async def write_audit(conn: asyncpg.Connection, entry: AuditEntry) -> None:
    """Insert ``entry`` on ``conn``: in the caller's transaction, if it has one."""
    detail = {"before": as_json(entry.before), "after": as_json(entry.after), **entry.note}
    await insert_audit(conn, actor=entry.actor.name, action=entry.action,
                       remote=entry.actor.remote, detail=detail, booking_id=entry.booking_id)


async def insert_audit(conn: asyncpg.Connection, *, actor: str, action: str,
                       remote: str | None, detail: Mapping[str, Any],
                       booking_id: int | None = None) -> None:
    """The one writer of ``audit_log`` rows, on ``conn`` (in its transaction,
    if it has one). ``detail`` is stored as given; admin changes go through
    ``write_audit``, which puts their before and after in it."""
    await conn.execute(
        """INSERT INTO audit_log (actor, action, booking_id, remote, detail)
           VALUES ($1, $2, $3, $4, $5::jsonb)""",
        actor, action, booking_id, remote, orjson.dumps(detail, default=_default).decode())


class AuditStore:
    """Audit rows of changes that are not in PostgreSQL transactions of their own."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(self, entry: AuditEntry) -> None:
        async with self._pool.acquire() as conn:
            await write_audit(conn, entry)
