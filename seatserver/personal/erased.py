"""The check that an account was not erased, for writes about a person.

A request's session is checked before its work starts; an erasure may
commit in between (``accounts.privacy``). A write that would put a person's
data on the account (a booking with their address copied in, a review, a
name) first runs ``refuse_erased`` in its own transaction.
"""

from __future__ import annotations

import asyncpg

from seatserver.errors import Unauthorized


async def refuse_erased(conn: asyncpg.Connection, user_id: int) -> None:
    """``Unauthorized`` if ``user_id`` was erased. The share lock waits for an
    erasure under way (it holds the row for update) and keeps one from
    starting until the caller's transaction ends: either the erasure finds
    what this transaction wrote, or it came first and this refuses."""
    erased = await conn.fetchval(
        "SELECT erased_at IS NOT NULL FROM users WHERE id = $1 FOR KEY SHARE", user_id)
    if erased:
        raise Unauthorized("this account was erased")
