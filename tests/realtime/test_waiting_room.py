"""The waiting room over /ws: positions, admission, and the hold gate, in
both encodings, on a real server with its admitter."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from seatserver import redis_keys
from seatserver.appkeys import REDIS
from seatserver.http.roles import Role
from seatserver.loadgen.client import SeatClient, new_session
from seatserver.protocol.codecs import BY_PROTOCOL
from seatserver.waiting.engine import PRESENCE_GRACE_MS
from seatserver.waiting.setup import ADMITTER
from tests.admin.conftest import session_of
from tests.realtime.conftest import ServerFactory
from tests.support import eventually

PROTOCOLS = sorted(BY_PROTOCOL)


@pytest.fixture
async def server(make_server: ServerFactory, demo: list[int]) -> TestServer:
    return await make_server(queue_update_s=1, admit_interval_s=0.05)


@pytest.fixture(autouse=True)
async def no_sale_settings_left(db_pool: asyncpg.Pool) -> AsyncIterator[None]:
    """The demo's showtimes are shared by the session's tests: leave them
    without a waiting room, as they were."""
    yield
    async with db_pool.acquire() as conn:
        await conn.execute("DELETE FROM showtime_sales")


@pytest.fixture
async def admin_token(db_pool: asyncpg.Pool) -> str:
    made = await session_of(db_pool, Role.ADMIN)
    assert made is not None
    return made[1]


async def set_sale(http: aiohttp.ClientSession, base_url: str, token: str, showtime: int,
                   method: str = "PUT", **body: Any) -> dict[str, Any]:
    async with http.request(method, f"{base_url}/api/admin/showtimes/{showtime}/sale",
                            json=body, headers={"Authorization": f"Bearer {token}"}) as resp:
        answer: dict[str, Any] = await resp.json()
        assert resp.status == 200, answer
        return answer


@pytest.fixture
async def buyers(http: aiohttp.ClientSession, base_url: str, request: pytest.FixtureRequest
                 ) -> AsyncIterator[list[SeatClient]]:
    protocol = getattr(request, "param", PROTOCOLS[0])
    made = [SeatClient(http, base_url, await new_session(http, base_url), protocol=protocol)
            for _ in range(3)]
    for client in made:
        client.keep_frames = True
        await client.connect()
    yield made
    for client in made:
        await client.close()


def frames(client: SeatClient, kind: str) -> list[dict[str, Any]]:
    return [f for f in client.frames if f.get("t") == kind]


@pytest.mark.parametrize("buyers", PROTOCOLS, indirect=True)
async def test_buyers_wait_their_turn_and_hold_once_admitted(
        http: aiohttp.ClientSession, base_url: str, admin_token: str, showtime: int,
        seats: list[str], buyers: list[SeatClient]) -> None:
    await set_sale(http, base_url, admin_token, showtime, waiting_room=True,
                   admission_rate=0, active_cap=1, admission_ttl_s=600)
    first, second, third = buyers
    ack = await first.subscribe(showtime)
    assert ack["ok"] and ack["queue"] in ("waiting", "admitted")
    await eventually(lambda: first.views[showtime].admitted_until is not None, within=5)
    ack = await second.request("queue", showtime=showtime)
    assert (ack["ok"], ack["queue"]) == (True, "waiting")
    ack = await third.request("queue", showtime=showtime)
    told = frames(third, "queue")[-1]
    assert told["position"] == 2 and told["state"] == "waiting" and told["waiting"] == 2

    refused = await second.hold(showtime, [seats[0]])
    assert (refused["ok"], refused["code"]) == (False, "not_admitted")
    refused = await second.request("hold", showtime=showtime, best={"count": 1})
    assert refused["code"] == "not_admitted"
    assert (await first.hold(showtime, [seats[0]]))["ok"]

    # The operator lets one more in, live: the second is admitted, the third
    # moves up (told within a queue update or two).
    await set_sale(http, base_url, admin_token, showtime, method="PATCH", active_cap=2)
    await eventually(lambda: frames(second, "admitted") != [], within=5)
    assert (await second.hold(showtime, [seats[1]]))["ok"]
    await eventually(lambda: frames(third, "queue")[-1]["position"] == 1, within=5)
    assert frames(third, "admitted") == []
    # A second socket of the same session keeps the place.
    again = SeatClient(http, base_url, third.token, protocol=third.codec.name)
    again.keep_frames = True
    await again.connect()
    try:
        assert (await again.request("queue", showtime=showtime))["queue"] == "waiting"
        assert frames(again, "queue")[-1]["position"] == 1
    finally:
        await again.close()


async def test_without_a_waiting_room_nothing_changes(showtime: int, seats: list[str],
                                                      buyers: list[SeatClient]) -> None:
    ack = await buyers[0].subscribe(showtime)
    assert ack["ok"] and "queue" not in ack
    assert (await buyers[0].request("queue", showtime=showtime))["queue"] == "open"
    assert (await buyers[0].hold(showtime, [seats[0]]))["ok"]
    assert frames(buyers[0], "queue") == []


@pytest.mark.parametrize("fields", [
    {}, {"showtime": "1"}, {"showtime": 0}, {"showtime": -5}, {"showtime": 2**63},
    {"showtime": True}, {"showtime": 1.5}, {"showtime": None}, {"showtime": [1]},
])
async def test_hostile_queue_messages_are_bad_messages(buyers: list[SeatClient],
                                                       fields: dict[str, Any]) -> None:
    ack = await buyers[0].request("queue", **fields)
    assert (ack["t"], ack["code"]) == ("error", "bad_message")


async def test_queueing_for_an_unknown_showtime_is_refused(buyers: list[SeatClient]) -> None:
    ack = await buyers[0].request("queue", showtime=999_999)
    assert (ack["ok"], ack["code"]) == (False, "unknown_showtime")


async def test_a_buyer_whose_last_socket_closes_gives_back_its_unused_admission(
        http: aiohttp.ClientSession, base_url: str, admin_token: str, showtime: int,
        server: TestServer, buyers: list[SeatClient]) -> None:
    await set_sale(http, base_url, admin_token, showtime, waiting_room=True,
                   admission_rate=0, active_cap=5, admission_ttl_s=600)
    buyer = buyers[0]
    await buyer.subscribe(showtime)
    await eventually(lambda: buyer.views[showtime].admitted_until is not None, within=5)
    redis = server.app[REDIS]
    key = redis_keys.admissions(showtime)
    [(holder, whole)] = await redis.zrange(key, 0, -1, withscores=True)  # the one admitted
    # A second tab of the same buyer: closing one of them is no leaving.
    other = SeatClient(http, base_url, buyer.token)
    await other.connect()
    await other.subscribe(showtime)
    await other.close()
    await asyncio.sleep(0.3)
    assert await redis.zscore(key, holder) == whole
    await buyer.close()

    async def shortened() -> bool:
        ends = await redis.zscore(key, holder)
        return ends is not None and ends < whole - 500_000

    await eventually(shortened, within=5)
    seconds, micros = await redis.time()
    now = int(seconds) * 1000 + int(micros) // 1000
    assert await redis.zscore(key, holder) <= now + PRESENCE_GRACE_MS


async def test_a_board_watching_with_queue_false_takes_no_place(
        http: aiohttp.ClientSession, base_url: str, admin_token: str, showtime: int,
        seats: list[str], buyers: list[SeatClient]) -> None:
    await set_sale(http, base_url, admin_token, showtime, waiting_room=True,
                   admission_rate=0, active_cap=1, admission_ttl_s=600)
    board, buyer = buyers[0], buyers[1]
    ack = await board.request("subscribe", showtime=showtime, queue=False)
    assert ack["ok"] and "queue" not in ack
    assert any(f["t"] == "snapshot" for f in board.frames)
    assert (await buyer.request("queue", showtime=showtime))["queue"] in ("waiting", "admitted")
    await eventually(lambda: frames(buyer, "admitted") != [], within=5)  # the board was not ahead
    refused = await board.hold(showtime, [seats[0]])
    assert refused["code"] == "not_admitted"
    async with http.get(f"{base_url}/api/showtimes/{showtime}/queue") as resp:
        assert (await resp.json())["waiting"] == 0


@pytest.mark.parametrize("value", ["false", 0, None, [], {}])
async def test_a_queue_field_that_is_not_a_boolean_is_a_bad_message(
        showtime: int, buyers: list[SeatClient], value: Any) -> None:
    ack = await buyers[0].request("subscribe", showtime=showtime, queue=value)
    assert (ack["t"], ack["code"]) == ("error", "bad_message")


async def lapse(server: TestServer, showtime: int) -> list[bytes]:
    """Every live admission of the showtime ends now, as if its lifetime ran
    out unused (at least a minute: too long for a test to wait)."""
    redis = server.app[REDIS]
    key = redis_keys.admissions(showtime)
    holders: list[bytes] = await redis.zrange(key, 0, -1)
    if holders:
        await redis.zadd(key, dict.fromkeys(holders, 1), xx=True)
    return holders


@pytest.mark.parametrize("buyers", PROTOCOLS, indirect=True)
async def test_a_lapsed_admission_is_told_once_per_lapse_to_every_socket_of_the_buyer(
        http: aiohttp.ClientSession, base_url: str, admin_token: str, showtime: int,
        seats: list[str], server: TestServer, buyers: list[SeatClient]) -> None:
    await set_sale(http, base_url, admin_token, showtime, waiting_room=True,
                   admission_rate=0, active_cap=5, admission_ttl_s=600)
    buyer = buyers[0]
    # Two tabs of one buyer: the waiting page's socket and the map's.
    tab = SeatClient(http, base_url, buyer.token, protocol=buyer.codec.name)
    tab.keep_frames = True
    await tab.connect()
    try:
        assert (await buyer.request("queue", showtime=showtime))["ok"]
        await eventually(lambda: frames(buyer, "admitted") != [], within=5)
        assert (await tab.subscribe(showtime))["queue"] == "admitted"
        assert frames(buyer, "admission_lapsed") == [] == frames(tab, "admission_lapsed")

        assert len(await lapse(server, showtime)) == 1
        for client in (buyer, tab):
            await eventually(lambda c=client: frames(c, "admission_lapsed") != [], within=5)
            assert frames(client, "admission_lapsed") == [
                {"t": "admission_lapsed", "showtime": showtime}]
        assert tab.views[showtime].admitted_until is None
        await asyncio.sleep(2.5)  # a few more rounds: said once, not every round
        assert len(frames(buyer, "admission_lapsed")) == len(frames(tab, "admission_lapsed")) == 1
        assert (await tab.hold(showtime, [seats[0]]))["code"] == "not_admitted"

        # Queued again and admitted again: a new lapse is told again, once.
        assert (await tab.request("queue", showtime=showtime))["ok"]
        await eventually(lambda: len(frames(tab, "admitted")) >= 2, within=5)
        assert (await tab.hold(showtime, [seats[0]]))["ok"]
        await lapse(server, showtime)
        await eventually(lambda: len(frames(tab, "admission_lapsed")) == 2, within=5)
        await asyncio.sleep(1.5)
        assert len(frames(tab, "admission_lapsed")) == 2
        # The waiting page's socket was no longer followed after its lapse.
        assert len(frames(buyer, "admission_lapsed")) == 1
    finally:
        await tab.close()


async def test_a_buyer_never_admitted_is_never_told_of_a_lapse(
        http: aiohttp.ClientSession, base_url: str, admin_token: str, showtime: int,
        server: TestServer, buyers: list[SeatClient]) -> None:
    await set_sale(http, base_url, admin_token, showtime, waiting_room=True,
                   admission_rate=0, active_cap=1, admission_ttl_s=600)
    first, second = buyers[0], buyers[1]
    await first.request("queue", showtime=showtime)
    await eventually(lambda: frames(first, "admitted") != [], within=5)
    assert (await second.request("queue", showtime=showtime))["queue"] == "waiting"
    await lapse(server, showtime)
    await eventually(lambda: frames(first, "admission_lapsed") != [], within=5)
    # The second takes the freed place: admitted, and nothing lapsed for it.
    await eventually(lambda: frames(second, "admitted") != [], within=5)
    assert frames(second, "admission_lapsed") == []


async def test_each_instance_tells_its_own_sockets_of_the_lapse(
        http: aiohttp.ClientSession, base_url: str, admin_token: str, showtime: int,
        make_server: ServerFactory, server: TestServer, buyers: list[SeatClient]) -> None:
    other = await make_server(queue_update_s=1, admit_interval_s=0.05)
    other_url = str(other.make_url("/")).rstrip("/")
    await set_sale(http, base_url, admin_token, showtime, waiting_room=True,
                   admission_rate=0, active_cap=5, admission_ttl_s=600)
    here = buyers[0]
    there = SeatClient(http, other_url, here.token)
    there.keep_frames = True
    await there.connect()
    try:
        await here.subscribe(showtime)
        await eventually(lambda: frames(here, "admitted") != [], within=5)
        # The other instance learns of a waiting room set here by its next
        # read of the settings (Admitter.may_gate); until then a subscribe
        # there does not queue (a hold would be refused not_admitted).
        await eventually(lambda: other.app[ADMITTER].may_gate(showtime), within=10)
        assert (await there.subscribe(showtime))["queue"] == "admitted"
        await lapse(server, showtime)
        for client in (here, there):
            await eventually(lambda c=client: frames(c, "admission_lapsed") != [], within=5)
        await asyncio.sleep(1.5)
        assert len(frames(here, "admission_lapsed")) == len(frames(there, "admission_lapsed")) == 1
    finally:
        await there.close()
