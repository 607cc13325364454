"""House seats and counter tests: a real server on real Redis and PostgreSQL,
with the bookings suite's fixtures (servers, buyers, the demo showtime)."""

from __future__ import annotations

from typing import Any

import aiohttp
import asyncpg
import pytest

from seatserver.http.roles import Role
from tests.admin.conftest import Admin, session_of
from tests.bookings import conftest as bookings

http = bookings.http
server = bookings.server
base_url = bookings.base_url
seats = bookings.seats
connect = bookings.connect
make_server = bookings.make_server
settings = bookings.settings
keys = bookings.keys
payment_key = bookings.payment_key
no_bookings = bookings.no_bookings
showtime = bookings.showtime
starts_in = bookings.starts_in
buyer_at = bookings.buyer_at


@pytest.fixture
async def as_role(http: aiohttp.ClientSession, base_url: str, db_pool: asyncpg.Pool) -> Any:
    """A caller of ``role`` with a Bearer session (``mfa``: it proved a code)."""
    async def make(role: Role, *, mfa: bool = True) -> Admin:
        caller = Admin(http, base_url)
        made = await session_of(db_pool, role)
        if made is not None:
            caller.id, caller.bearer = made
            if not mfa:
                async with db_pool.acquire() as conn:
                    await conn.execute("UPDATE sessions SET mfa_at = NULL WHERE user_id = $1",
                                       caller.id)
        return caller
    return make


@pytest.fixture
async def admin(as_role: Any) -> Admin:
    made: Admin = await as_role(Role.ADMIN)
    return made


@pytest.fixture
async def clerk(as_role: Any) -> Admin:
    """Box-office staff."""
    made: Admin = await as_role(Role.BOX_OFFICE)
    return made


@pytest.fixture(autouse=True)
async def no_blocks(db_pool: asyncpg.Pool) -> Any:
    """Each test starts with no blocked seats, and leaves none behind: servers
    of later tests (of any suite sharing the database) would mirror them."""
    async with db_pool.acquire() as conn:
        await conn.execute("TRUNCATE seat_blocks")
    yield
    async with db_pool.acquire() as conn:
        await conn.execute("TRUNCATE seat_blocks")
