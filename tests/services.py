"""Test services and databases, for fixtures and for tests that need their own."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Services:
    redis_url: str
    database_url: str


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine in a loop of its own on a thread of its own.

    ``asyncio.run`` on this thread would reset the current event loop that
    pytest-asyncio and aiohttp's fixtures use.
    """
    with ThreadPoolExecutor(1) as executor:
        return executor.submit(asyncio.run, coro).result()


def database_dsn(dsn: str, name: str) -> str:
    """The DSN of another database on the same server."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _create_database(admin_dsn: str, name: str, template: str | None) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        copy = f' TEMPLATE "{template}"' if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{copy}')
    finally:
        await conn.close()


async def _drop_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        # FORCE: a test that leaked a connection must not leak the database too.
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def make_database(admin_dsn: str, prefix: str = "seatserver_test",
                  template: str | None = None) -> tuple[str, str]:
    """Create an empty database, or a copy of ``template`` (a database nobody
    is connected to); returns its (name, dsn)."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    run_sync(_create_database(admin_dsn, name, template))
    return name, database_dsn(admin_dsn, name)


def drop_database(admin_dsn: str, name: str) -> None:
    run_sync(_drop_database(admin_dsn, name))
