"""The asyncpg pool and the migration runner.

Migrations are plain SQL files ``NNNN_name.sql`` in the repository's top-level
``migrations/`` folder, applied in name order, each in its own transaction,
and recorded with a sha256 checksum in ``schema_migrations``. An applied file
is never edited: a changed checksum stops the run, because the database would
otherwise silently differ from what the file says. Fix forward with a new file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

# PostgreSQL unreachable, restarting or shutting down: a retryable 503, not a 500.
DB_DOWN = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
           asyncpg.exceptions.OperatorInterventionError, ConnectionError, OSError,
           TimeoutError)

# PostgreSQL's bigint: no row id is larger. Ids from outside are checked
# against it before they reach a query, which would fail on them otherwise.
MAX_ID = 2**63 - 1

MIGRATIONS_DIR_ENV = "SEATSERVER_MIGRATIONS_DIR"
_NAME = re.compile(r"^\d{4}_[a-z0-9_]+\.sql$")
# Any constant shared by every seatserver process; "seat" in ASCII.
_MIGRATION_LOCK = 0x73656174

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    name       text PRIMARY KEY,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    """The migrations cannot be applied as they stand; the message says which file."""


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    sql: str
    checksum: str

    @classmethod
    def read(cls, path: Path) -> Migration:
        raw = path.read_bytes()
        return cls(path.name, raw.decode("utf-8"), hashlib.sha256(raw).hexdigest())


async def create_pool(dsn: str, size: int) -> asyncpg.Pool:
    """A pool of at most ``size`` connections, plain asyncpg (no custom codecs).

    Hold one connection for a unit of work (``async with pool.acquire()``).
    """
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn,
        min_size=min(2, size),
        max_size=size,
        command_timeout=30,
        reset=keep_session,
    )
    return pool


async def keep_session(conn: asyncpg.Connection) -> None:
    """The pools' reset of a connection coming back: nothing more than what
    asyncpg always does first (roll back a transaction left open).

    asyncpg's default reset sends ``pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL`` on every release: a round trip per unit of work,
    an eighth of the server's time for a new guest session. None of it has
    anything to undo here, because no code takes session state on a pooled
    connection: no SET without LOCAL, no LISTEN, no session advisory lock, no
    cursor outside a transaction (tests/test_db.py holds the
    code to that; migrations take their lock on a connection of their own).
    """


def default_migrations_dir() -> Path:
    """``$SEATSERVER_MIGRATIONS_DIR``, else the ``migrations/`` beside the package."""
    override = os.environ.get(MIGRATIONS_DIR_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / "migrations"


def load_migrations(migrations_dir: Path) -> list[Migration]:
    if not migrations_dir.is_dir():
        raise MigrationError(
            f"no migrations folder at {migrations_dir}; set {MIGRATIONS_DIR_ENV}"
        )
    files = sorted(p for p in migrations_dir.iterdir() if p.suffix == ".sql")
    misnamed = [p.name for p in files if not _NAME.match(p.name)]
    if misnamed:
        raise MigrationError(
            f"migration files must be named NNNN_name.sql: {', '.join(misnamed)}"
        )
    return [Migration.read(p) for p in files]


async def migrate(dsn: str, migrations_dir: Path | None = None) -> list[str]:
    """Apply the pending migrations in order; returns the names applied.

    Safe to run from several processes at once (every instance of a
    deployment may migrate on start): a session advisory lock serialises the
    runs, and a run that waited finds the work done.
    """
    migrations = load_migrations(migrations_dir or default_migrations_dir())
    conn: asyncpg.Connection = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            return await _apply_pending(conn, migrations)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    finally:
        await conn.close()


async def _apply_pending(conn: asyncpg.Connection, migrations: list[Migration]) -> list[str]:
    await conn.execute(_CREATE_TABLE)
    rows = await conn.fetch("SELECT name, checksum FROM schema_migrations")
    applied: dict[str, str] = {r["name"]: r["checksum"] for r in rows}
    _check_applied(migrations, applied)
    done: list[str] = []
    for migration in migrations:
        if migration.name in applied:
            continue
        log.info("applying migration %s", migration.name)
        async with conn.transaction():
            try:
                await conn.execute(migration.sql)
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"migration {migration.name} failed: {exc}") from exc
            await conn.execute(
                "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)",
                migration.name, migration.checksum,
            )
        done.append(migration.name)
    return done


def _check_applied(migrations: list[Migration], applied: dict[str, str]) -> None:
    for migration in migrations:
        recorded = applied.get(migration.name)
        if recorded is not None and recorded != migration.checksum:
            raise MigrationError(
                f"migration {migration.name} was changed after it was applied "
                f"(checksum {recorded[:12]}… in the database, {migration.checksum[:12]}… "
                "on disk); restore the file and add a new migration instead"
            )
    unknown = sorted(set(applied) - {m.name for m in migrations})
    if unknown:
        # A newer release migrated this database; this code may not understand it.
        log.warning("database has migrations this code does not know: %s", ", ".join(unknown))
