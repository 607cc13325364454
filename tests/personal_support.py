"""Personal data as tests read and write it beside a server: sealed, and
found by the keyed hash (the server's generated keys, from PostgreSQL)."""

from __future__ import annotations

import asyncpg

from seatserver.personal.cipher import USERS_EMAIL, PersonalCipher
from seatserver.personal.setup import stored_keys


async def cipher_of(pool: asyncpg.Pool) -> PersonalCipher:
    return (await stored_keys(pool)).cipher


async def user_id_of(pool: asyncpg.Pool, email: str) -> int | None:
    """The id of the account whose address is ``email``."""
    hashed = (await cipher_of(pool)).email_hash(email)
    async with pool.acquire() as conn:
        found: int | None = await conn.fetchval(
            "SELECT id FROM users WHERE email_hash = $1", hashed)
    return found


async def set_email(pool: asyncpg.Pool, user_id: int, email: str) -> None:
    """Give the user ``email``, sealed as the server writes it."""
    cipher = await cipher_of(pool)
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE users SET email = NULL, email_sealed = $2, email_hash = $3 WHERE id = $1",
            user_id, cipher.seal(email, USERS_EMAIL, str(user_id)), cipher.email_hash(email))
