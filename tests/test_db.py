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
