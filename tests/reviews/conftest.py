"""Reviews tests: a real server on real Redis and PostgreSQL, and a movie of
each test's own that callers have (or have not) seen."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tests.admin import conftest as admin

http = admin.http
make_server = admin.make_server
server = admin.server
base_url = admin.base_url
settings = admin.settings
visitor = admin.visitor
as_role = admin.as_role
Admin = admin.Admin


@dataclass(frozen=True)
class Film:
    """A movie with one showtime that is over and one still to come."""

    movie: int
    past: int
    future: int


@pytest.fixture
async def film(db_pool: asyncpg.Pool) -> Film:
    tag = secrets.token_hex(4)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    async with db_pool.acquire() as conn, conn.transaction():
        theater = await conn.fetchval(
            "INSERT INTO theaters (slug, name, city, time_zone) "
            "VALUES ($1, 'Kino', 'Berlin', 'Europe/Berlin') RETURNING id", f"kino-{tag}")
        screen = await conn.fetchval(
            "INSERT INTO screens (theater_id, name) VALUES ($1, '1') RETURNING id", theater)
        movie = await conn.fetchval(
            "INSERT INTO movies (slug, title, runtime_min) VALUES ($1, $2, 90) RETURNING id",
            f"film-{tag}", f"Film {tag}")
        past, future = [await conn.fetchval(
            "INSERT INTO showtimes (movie_id, screen_id, starts_at, currency) "
            "VALUES ($1, $2, $3, 'EUR') RETURNING id", movie, screen, at)
            for at in (now - timedelta(days=2), now + timedelta(days=2))]
    return Film(movie, past, future)


async def book(db_pool: asyncpg.Pool, user_id: int, showtime: int,
               status: str = "booked") -> None:
    """A booking of ``user_id`` for ``showtime`` in ``status``, as checkout leaves it."""
    async with db_pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO bookings (reference, user_id, showtime_id, status, amount, currency, "
            "hold_deadline) VALUES ($1, $2, $3, $4, 1000, 'EUR', now())",
            secrets.token_hex(5).upper(), user_id, showtime, status)
