"""`seatserver seed --demo` creates the staff accounts once, as a real process."""

from __future__ import annotations

import re

import asyncpg
from argon2 import PasswordHasher

from tests.personal_support import user_id_of
from tests.test_cli import seatserver


async def password_hash(dsn: str, email: str) -> tuple[str, str]:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    try:
        user_id = await user_id_of(pool, email)
        async with pool.acquire() as conn:
            row = await conn.fetchrow("SELECT kind, password_hash FROM users WHERE id = $1",
                                      user_id)
    finally:
        await pool.close()
    assert row is not None
    return row["kind"], row["password_hash"]


async def test_seed_demo_creates_admin_and_kiosk_once_and_shows_the_password_once(
        fresh_database_url: str) -> None:
    assert seatserver("migrate", DATABASE_URL=fresh_database_url).returncode == 0

    first = seatserver("seed", "--demo", DATABASE_URL=fresh_database_url)
    second = seatserver("seed", "--demo", DATABASE_URL=fresh_database_url)

    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    shown = re.search(r"admin account admin@example.com created, password (\S+) "
                      r"\(shown this once\)", first.stdout)
    assert shown, first.stdout
    assert "kiosk account kiosk@example.com created, password" in first.stdout
    assert "admin account admin@example.com: exists, left as it is" in second.stdout
    assert shown[1] not in second.stdout
    kind, stored = await password_hash(fresh_database_url, "admin@example.com")
    assert kind == "admin" and stored.startswith("$argon2id$")
    assert PasswordHasher().verify(stored, shown[1])
    assert (await password_hash(fresh_database_url, "kiosk@example.com"))[0] == "kiosk"


async def test_seed_demo_takes_the_admin_password_from_the_environment(
        fresh_database_url: str) -> None:
    assert seatserver("migrate", DATABASE_URL=fresh_database_url).returncode == 0

    result = seatserver("seed", "--demo", DATABASE_URL=fresh_database_url,
                        SEATSERVER_ADMIN_PASSWORD="admin password from env")

    assert result.returncode == 0, result.stderr
    assert ("admin account admin@example.com created, password from "
            "SEATSERVER_ADMIN_PASSWORD") in result.stdout
    assert "admin password from env" not in result.stdout
    _, stored = await password_hash(fresh_database_url, "admin@example.com")
    assert PasswordHasher().verify(stored, "admin password from env")
