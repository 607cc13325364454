from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path

import asyncpg
import pytest

from seatserver.db import MigrationError, create_pool, migrate


def write(folder: Path, name: str, sql: str) -> Path:
    path = folder / name
    path.write_text(sql)
    return path


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    folder.mkdir()
    # Written out of order on purpose: the names decide, not the disk.
    write(folder, "0010_third.sql", "ALTER TABLE a ADD COLUMN c int;")
    write(folder, "0002_second.sql", "ALTER TABLE a ADD COLUMN b int;")
    write(folder, "0001_first.sql", "CREATE TABLE a (id int PRIMARY KEY);")
    return folder


async def columns(dsn: str, table: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = $1"
            " ORDER BY ordinal_position", table)
    finally:
        await conn.close()
    return [r["column_name"] for r in rows]


async def recorded(dsn: str) -> dict[str, str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT name, checksum FROM schema_migrations ORDER BY name")
    finally:
        await conn.close()
    return {r["name"]: r["checksum"] for r in rows}


async def test_migrations_apply_in_name_order_and_are_recorded_with_checksums(
        fresh_database_url: str, migrations: Path) -> None:
    applied = await migrate(fresh_database_url, migrations)

    assert applied == ["0001_first.sql", "0002_second.sql", "0010_third.sql"]
    assert await columns(fresh_database_url, "a") == ["id", "b", "c"]
    assert await recorded(fresh_database_url) == {
        name: hashlib.sha256((migrations / name).read_bytes()).hexdigest() for name in applied
    }


async def test_rerun_applies_nothing(fresh_database_url: str, migrations: Path) -> None:
    await migrate(fresh_database_url, migrations)

    assert await migrate(fresh_database_url, migrations) == []


async def test_new_file_is_applied_on_the_next_run(
        fresh_database_url: str, migrations: Path) -> None:
    await migrate(fresh_database_url, migrations)
    write(migrations, "0011_fourth.sql", "ALTER TABLE a ADD COLUMN d int;")

    assert await migrate(fresh_database_url, migrations) == ["0011_fourth.sql"]


async def test_edited_applied_migration_is_refused_naming_the_file(
        fresh_database_url: str, migrations: Path) -> None:
    await migrate(fresh_database_url, migrations)
    write(migrations, "0002_second.sql", "ALTER TABLE a ADD COLUMN b bigint;")
    write(migrations, "0011_fourth.sql", "ALTER TABLE a ADD COLUMN d int;")

    with pytest.raises(MigrationError, match=re.escape("0002_second.sql")):
        await migrate(fresh_database_url, migrations)
    # Nothing after the refusal ran either.
    assert "d" not in await columns(fresh_database_url, "a")


async def test_failed_migration_is_rolled_back_and_not_recorded(
        fresh_database_url: str, migrations: Path) -> None:
    write(migrations, "0011_broken.sql",
          "CREATE TABLE half (id int);\nALTER TABLE no_such_table ADD COLUMN x int;")

    with pytest.raises(MigrationError, match=re.escape("0011_broken.sql")):
        await migrate(fresh_database_url, migrations)

    assert await columns(fresh_database_url, "half") == []
    assert "0011_broken.sql" not in await recorded(fresh_database_url)
    assert "0010_third.sql" in await recorded(fresh_database_url)


async def test_misnamed_migration_file_is_refused(
        fresh_database_url: str, migrations: Path) -> None:
    write(migrations, "3_oops.sql", "SELECT 1;")

    with pytest.raises(MigrationError, match=re.escape("3_oops.sql")):
        await migrate(fresh_database_url, migrations)


async def test_concurrent_migrations_apply_each_file_once(
        fresh_database_url: str, migrations: Path) -> None:
    # Slow enough that the two runs certainly overlap.
    write(migrations, "0003_slow.sql", "SELECT pg_sleep(0.3);")

    results = await asyncio.gather(*(migrate(fresh_database_url, migrations) for _ in range(3)))

    everything = ["0001_first.sql", "0002_second.sql", "0003_slow.sql", "0010_third.sql"]
    assert sorted(results, key=len) == [[], [], everything]


async def test_repository_migrations_apply_to_an_empty_database(
        fresh_database_url: str) -> None:
    applied = await migrate(fresh_database_url)

    assert applied[0] == "0001_core.sql"
    assert await migrate(fresh_database_url) == []


async def test_pool_connects_with_at_most_the_given_size(database_url: str) -> None:
    pool = await create_pool(database_url, 3)
    try:
        assert pool.get_max_size() == 3
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM seat_types") == 3
    finally:
        await pool.close()


async def test_a_released_connection_costs_no_reset_round_trip(database_url: str) -> None:
    """The pool hands a connection back without asyncpg's default reset
    (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL): one round trip less
    for every unit of work (seatserver.db.keep_session)."""
    pool = await create_pool(database_url, 2)
    sent: list[str] = []
    try:
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda record: sent.append(record.query))
            await conn.fetchval("SELECT 1")
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT 2")
    finally:
        await pool.close()
    assert sent == ["SELECT 1", "SELECT 2"]


async def test_a_transaction_left_open_is_still_rolled_back_on_release(
        database_url: str) -> None:
    pool = await create_pool(database_url, 1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TEMP TABLE IF NOT EXISTS t (x int)")
            await conn.execute("BEGIN")
            await conn.execute("INSERT INTO t VALUES (1)")
        async with pool.acquire() as conn:  # the same one: the pool holds one
            assert await conn.fetchval("SELECT count(*) FROM t") == 0
            assert not conn.is_in_transaction()
    finally:
        await pool.close()


# Session state a pooled connection would carry to its next user, now that
# the pool no longer resets it: statements that start with SET (not SET
# LOCAL), LISTEN, session advisory locks, cursors kept past their transaction.
SESSION_STATE = re.compile(
    r"""["']\s*(SET\s+(?!LOCAL\b)(SESSION\s+)?[a-z_.]+\s*(=|TO\b)|LISTEN\s)"""
    r"""|pg_(try_)?advisory_lock\(|WITH\s+HOLD""")


def test_no_code_leaves_session_state_on_a_pooled_connection() -> None:
    package = Path(__file__).resolve().parent.parent / "seatserver"
    found = []
    for path in sorted(package.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if SESSION_STATE.search(line) and path.name != "db.py":
                found.append(f"{path.relative_to(package)}:{number}: {line.strip()}")
    # db.migrate's lock is on a connection of its own, closed after.
    assert found == []
    assert SESSION_STATE.search('await conn.execute("SET statement_timeout = 0")')
    assert not SESSION_STATE.search('await conn.execute("SET LOCAL lock_timeout = 0")')
    assert not SESSION_STATE.search('"UPDATE seats SET state = $1"')
    assert not SESSION_STATE.search('@describe("Set a new password with the token")')
