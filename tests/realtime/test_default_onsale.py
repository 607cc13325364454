"""A deployment-wide default on-sale time (SEATSERVER_ONSALE_BEFORE): a
showtime without an on-sale time of its own goes on sale that long before
its start, and every instance refuses holds before then through the hold
script, with no admin change made anywhere."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from seatserver.loadgen.client import SeatClient, new_session
from tests.realtime.conftest import ServerFactory
from tests.realtime.test_waiting_room import admin_token, set_sale
from tests.support import eventually

__all__ = ["admin_token"]  # a fixture these tests use

BEFORE_S = 3600
# A hold tried again every 0.2 s, within the socket's rate (20/s): tried every
# 10 ms, a loaded run whose restarted server took over a second to read its
# settings spent the burst, and the socket was closed as a flood (CLOSE_POLICY).
HOLD_EVERY_S = 0.2


@pytest.fixture
async def server(make_server: ServerFactory, demo: list[int]) -> TestServer:
    return await make_server(onsale_before_s=BEFORE_S, admit_interval_s=0.05)


@pytest.fixture
async def other(make_server: ServerFactory, server: TestServer) -> TestServer:
    """A second instance of the same deployment, on the same Redis and database."""
    return await make_server(onsale_before_s=BEFORE_S, admit_interval_s=0.05)


@pytest.fixture(autouse=True)
async def no_sale_settings_left(db_pool: asyncpg.Pool) -> AsyncIterator[None]:
    yield
    async with db_pool.acquire() as conn:
        await conn.execute("DELETE FROM showtime_sales")


@pytest.fixture
async def free(http: aiohttp.ClientSession, server: TestServer, later: int,
               seats: list[str]) -> str:
    """A seat of ``later`` nobody holds: the session's database may keep
    other tests' pending bookings, whose seats each server start holds again
    (bookings/reconcile.py)."""
    client = await buyer(http, server)
    try:
        await client.subscribe(later)
        view = client.views[later]
        return next(s for s in seats if s not in view.held and s not in view.booked)
    finally:
        await client.close()


@pytest.fixture
def later(demo: list[int]) -> int:
    """The demo's second showtime: a day or more away, so an hour before it is
    still to come."""
    return demo[1]


async def starts_ms(http: aiohttp.ClientSession, base_url: str, showtime: int) -> int:
    async with http.get(f"{base_url}/api/showtimes/{showtime}") as resp:
        return int(datetime.fromisoformat((await resp.json())["starts_at"]).timestamp() * 1000)


async def buyer(http: aiohttp.ClientSession, server: TestServer) -> SeatClient:
    url = str(server.make_url("/")).rstrip("/")
    client = SeatClient(http, url, await new_session(http, url))
    await client.connect()
    return client


async def test_every_instance_refuses_holds_before_the_default_on_sale_time(
        http: aiohttp.ClientSession, base_url: str, server: TestServer, other: TestServer,
        later: int, free: str) -> None:
    opens_at = await starts_ms(http, base_url, later) - BEFORE_S * 1000
    clients = [await buyer(http, server), await buyer(http, other)]
    try:
        for client in clients:
            refusals: list[dict[str, object]] = []

            async def refused(client: SeatClient = client,
                              refusals: list[dict[str, object]] = refusals) -> bool:
                refusals.append(await client.hold(later, [free]))
                return refusals[-1].get("code") == "not_admitted"

            # Each instance's admitter hands its settings to Redis as it starts.
            await eventually(refused, within=5)
            assert refusals[-1]["opens_at"] == opens_at
    finally:
        for client in clients:
            await client.close()
    async with http.get(f"{base_url}/api/showtimes/{later}/queue") as resp:
        body = await resp.json()
    assert datetime.fromisoformat(body["on_sale_at"]).timestamp() * 1000 == opens_at
    assert body["waiting_room"] is False


async def test_the_showtimes_own_time_wins_and_the_default_comes_back_on_reset(
        http: aiohttp.ClientSession, base_url: str, server: TestServer, other: TestServer,
        later: int, free: str, admin_token: str) -> None:
    opens_at = await starts_ms(http, base_url, later) - BEFORE_S * 1000
    path = f"{base_url}/api/admin/showtimes/{later}/sale"
    async with http.get(path, headers={"Authorization": f"Bearer {admin_token}"}) as resp:
        shown = await resp.json()
    assert (shown["source"], shown["on_sale_source"], shown["on_sale_before_s"]) == (
        "default", "default", BEFORE_S)
    assert datetime.fromisoformat(shown["on_sale_at"]).timestamp() * 1000 == opens_at

    # A live change of something else keeps the default a default (not pinned).
    patched = await set_sale(http, base_url, admin_token, later, method="PATCH",
                             admission_rate=60)
    assert (patched["source"], patched["on_sale_source"]) == ("showtime", "default")
    assert patched["on_sale_at"] == shown["on_sale_at"]

    # Its own time, already past: on sale at once, on the other instance too.
    own = await set_sale(http, base_url, admin_token, later, on_sale_at="2020-01-01T10:00:00Z",
                         waiting_room=False, admission_rate=0, active_cap=0,
                         admission_ttl_s=600)
    assert own["on_sale_source"] == "showtime"
    client = await buyer(http, other)
    try:
        assert (await client.hold(later, [free]))["ok"]
        assert (await client.release(later, [free]))["ok"]
        # Back to the defaults: the default time applies again, everywhere.
        reset = await set_sale(http, base_url, admin_token, later, method="DELETE")
        assert (reset["source"], reset["on_sale_source"]) == ("default", "default")
        refused = await client.hold(later, [free])
        assert (refused["code"], refused["opens_at"]) == ("not_admitted", opens_at)
        # null for its own time: the default, as ever.
        await set_sale(http, base_url, admin_token, later, on_sale_at=None, waiting_room=False,
                       admission_rate=0, active_cap=0, admission_ttl_s=600)
        assert (await client.hold(later, [free]))["code"] == "not_admitted"
    finally:
        await client.close()


async def test_removing_the_default_and_restarting_opens_the_sale(
        http: aiohttp.ClientSession, make_server: ServerFactory, server: TestServer,
        later: int, free: str) -> None:
    """The defaults come from the environment: an operator removes the
    default on-sale time and restarts. What the old default wrote to Redis
    must not keep the showtime shut until it ends."""
    client = await buyer(http, server)
    try:
        await eventually(lambda: _refused(client, later, free), within=5, interval=HOLD_EVERY_S)
    finally:
        await client.close()
    await server.close()  # the restart: the old configuration is gone
    restarted = await make_server(admit_interval_s=0.05)
    client = await buyer(http, restarted)
    try:
        await eventually(lambda: _held(client, later, free), within=5, interval=HOLD_EVERY_S)
        assert (await client.release(later, [free]))["ok"]
    finally:
        await client.close()


async def _refused(client: SeatClient, showtime: int, seat: str) -> bool:
    return (await client.hold(showtime, [seat])).get("code") == "not_admitted"


async def _held(client: SeatClient, showtime: int, seat: str) -> bool:
    return bool((await client.hold(showtime, [seat])).get("ok"))
