"""Smart seating over /ws: the orphan rule, companion seats and best available,
against the running app; 200 buyers asking best available at once."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from seatserver import redis_keys
from seatserver.loadgen.client import SeatClient, new_session
from tests.processes import ServerProcess
from tests.realtime.conftest import ClientFactory, ServerFactory
from tests.realtime.seating import (
    FREEING,
    Grant,
    judge,
    orphan_faults,
    rows_of,
    runs_of,
    stream_after,
)
from tests.support import eventually

CLIENTS = 200


@pytest.fixture
async def server(make_server: ServerFactory, demo: list[int]) -> TestServer:
    return await make_server(max_seats=10)


@pytest.fixture
async def strict_showtime(db_pool: asyncpg.Pool, demo: list[int]) -> AsyncIterator[int]:
    """A demo showtime with the orphan rule on (the demo has it off), set back after."""
    showtime = demo[-1]
    await db_pool.execute("UPDATE showtimes SET no_orphans = true WHERE id = $1", showtime)
    try:
        yield showtime
    finally:
        await db_pool.execute("UPDATE showtimes SET no_orphans = false WHERE id = $1", showtime)


async def layout_of(http: aiohttp.ClientSession, base_url: str, showtime: int
                    ) -> list[dict[str, Any]]:
    async with http.get(f"{base_url}/api/showtimes/{showtime}") as resp:
        seats: list[dict[str, Any]] = (await resp.json())["seats"]
    return seats


async def best(client: SeatClient, showtime: int, **want: Any) -> dict[str, Any]:
    return await client.request("hold", showtime=showtime, best=want)


async def test_hold_leaving_a_lone_seat_is_refused_naming_it(
        connect: ClientFactory, strict_showtime: int) -> None:
    client = await connect()
    ack = await client.hold(strict_showtime, ["C2"])  # C1 alone against the row end
    assert (ack["ok"], ack["code"], ack["seats"]) == (False, "would_orphan", ["C1"])
    assert (await client.hold(strict_showtime, ["C1", "C2"]))["ok"]


async def test_orphan_rule_off_lets_the_same_hold_through(connect: ClientFactory,
                                                          showtime: int) -> None:
    client = await connect()
    assert (await client.hold(showtime, ["C2"]))["ok"]


async def test_best_available_acks_its_seats_and_holds_them(connect: ClientFactory,
                                                            showtime: int) -> None:
    client = await connect()
    await client.subscribe(showtime)
    ack = await best(client, showtime, count=3, types=["gold"])
    assert ack["ok"] and ack["together"] is True and len(ack["seats"]) == 3
    assert ack["seats"][0][0] == ack["seats"][-1][0]  # one row
    assert {"expires_at", "offset", "epoch"} <= ack.keys()
    again = await best(client, showtime, count=3, types=["gold"])
    assert not set(again["seats"]) & set(ack["seats"])
    release = await client.release(showtime, ack["seats"])
    assert release["ok"]


async def test_best_available_with_a_wheelchair_space(connect: ClientFactory,
                                                      showtime: int, http: aiohttp.ClientSession,
                                                      base_url: str) -> None:
    spaces = {s["id"] for s in await layout_of(http, base_url, showtime) if s["accessible"]}
    client = await connect()
    ack = await best(client, showtime, count=2, accessible=1)
    assert ack["ok"] and len(set(ack["seats"]) & spaces) == 1


@pytest.mark.parametrize(("want", "code"), [
    ({"count": 11}, "too_many_seats"),
    ({"count": 2, "types": ["balcony"]}, "bad_message"),
])
async def test_best_available_refusals(connect: ClientFactory, showtime: int,
                                       want: dict[str, Any], code: str) -> None:
    ack = await best(await connect(), showtime, **want)
    assert (ack["t"], ack["ok"], ack["code"]) == ("ack", False, code)


async def test_best_available_when_nothing_fits(connect: ClientFactory, showtime: int,
                                                http: aiohttp.ClientSession,
                                                base_url: str) -> None:
    seats = await layout_of(http, base_url, showtime)
    silver = [s["id"] for s in seats if s["type"] == "silver" and not s["accessible"]]
    for start in range(0, len(silver), 10):
        assert (await (await connect()).hold(showtime, silver[start:start + 10]))["ok"]
    ack = await best(await connect(), showtime, count=2, types=["silver"])
    assert (ack["ok"], ack["code"]) == (False, "seats_unavailable")


async def race(clients: list[SeatClient], showtime: int) -> dict[str, Grant]:
    """Every client asks best available for 2-6 seats at once; the grants by offset."""
    grants: dict[str, Grant] = {}

    async def buyer(i: int, client: SeatClient) -> None:
        ack = await best(client, showtime, count=random.Random(i).randint(2, 6))
        if ack["ok"]:
            grants[ack["offset"]] = Grant(ack["offset"], ack["seats"], ack["together"])
        else:
            assert ack["code"] == "seats_unavailable", ack

    await asyncio.gather(*(buyer(i, c) for i, c in enumerate(clients)))
    return grants


async def audit(redis_url: str, seats: list[dict[str, Any]], showtime: int,
                grants: dict[str, Grant]) -> None:
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        raw = await redis.xrange(redis_keys.events(showtime))
    finally:
        await redis.aclose()
    events = [(offset, f["s"].split(",")) for offset, f in raw if f["k"] == "hold"]
    assert {offset for offset, _ in events} == set(grants)
    eligible = {s["id"] for s in seats if not s["accessible"] and not s["companion_of"]}
    assert judge(runs_of(seats), eligible, events, grants) == []
    granted = [seat for g in grants.values() for seat in g.seats]
    assert len(granted) == len(set(granted))
    assert len(granted) > len(seats) * 0.9  # the hall filled up


async def test_200_buyers_best_available_at_once(connect: ClientFactory, showtime: int,
                                                 http: aiohttp.ClientSession, base_url: str,
                                                 redis_url: str) -> None:
    seats = await layout_of(http, base_url, showtime)
    clients = list(await asyncio.gather(*(connect() for _ in range(CLIENTS))))
    grants = await race(clients, showtime)
    await audit(redis_url, seats, showtime, grants)


async def test_200_buyers_best_available_across_two_processes(
        redis_url: str, database_url: str, demo: list[int],
        http: aiohttp.ClientSession) -> None:
    showtime = demo[0]
    env = {"REDIS_URL": redis_url, "DATABASE_URL": database_url, "SEATSERVER_MAX_SEATS": "10"}
    servers = [ServerProcess(env), ServerProcess(env)]
    clients: list[SeatClient] = []
    try:
        await asyncio.gather(*(s.start() for s in servers))
        urls = [s.url for s in servers]

        async def connect(url: str) -> SeatClient:
            return await SeatClient(http, url, await new_session(http, url)).connect()

        clients = list(await asyncio.gather(*(connect(urls[i % 2]) for i in range(CLIENTS))))
        seats = await layout_of(http, urls[0], showtime)
        grants = await race(clients, showtime)
        await audit(redis_url, seats, showtime, grants)
    finally:
        await asyncio.gather(*(c.close() for c in clients))
        for server in servers:
            server.stop()


def test_the_replay_judge_sees_each_kind_of_fault() -> None:
    runs = [["A1", "A2", "A3", "A4"], ["B1", "B2", "B3", "B4"]]
    everyone = {s for run in runs for s in run}
    split = {"1-0": Grant("1-0", ["A4", "B4"], False)}
    lonely = {"1-0": Grant("1-0", ["A2", "A3"], True)}
    twice = {"2-0": Grant("2-0", ["A1", "A2"], True)}
    assert judge(runs, everyone, [("1-0", ["A4", "B4"])], split) != []
    assert judge(runs, everyone, [("1-0", ["A2", "A3"])], lonely) != []
    assert judge(runs, everyone, [("1-0", ["A1"]), ("2-0", ["A1", "A2"])], twice) != []
    fine = {"1-0": Grant("1-0", ["A1", "A2"], True)}
    assert judge(runs, everyone, [("1-0", ["A1", "A2"])], fine) == []


async def test_100_clickers_at_once_under_the_orphan_rule_leave_no_avoidable_lone_seat(
        connect: ClientFactory, strict_showtime: int, http: aiohttp.ClientSession,
        base_url: str, redis_url: str) -> None:
    seats = await layout_of(http, base_url, strict_showtime)
    ids = [s["id"] for s in seats]
    # What is taken before the clicks, and from which stream entry on they are
    # judged: the showtime may carry the holds and bookings of tests run before
    # this one in the process (a replay from an empty hall once called a hold
    # next to an earlier test's booking a fault).
    watcher = await connect()
    assert (await watcher.subscribe(strict_showtime))["ok"]
    await eventually(lambda: watcher.views[strict_showtime].snapshots > 0)
    before = watcher.views[strict_showtime]
    taken_before = before.held | before.booked | before.blocked
    start = before.offset
    clients = list(await asyncio.gather(*(connect() for _ in range(100))))
    codes: dict[str, int] = {}

    async def clicker(i: int, client: SeatClient) -> None:
        rng = random.Random(i)
        for _ in range(8):
            at = rng.randrange(len(ids) - 1)
            ack = await client.hold(strict_showtime, ids[at:at + rng.randint(1, 2)])
            code = "ok" if ack["ok"] else ack["code"]
            codes[code] = codes.get(code, 0) + 1

    await asyncio.gather(*(clicker(i, c) for i, c in enumerate(clients)))
    assert set(codes) <= {"ok", "would_orphan", "seats_unavailable", "too_many_seats"}, codes
    assert codes.get("would_orphan", 0) > 0 and codes.get("ok", 0) > 50, codes
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        raw = await redis.xrange(redis_keys.events(strict_showtime))
    finally:
        await redis.aclose()
    # Holds of earlier tests may expire meanwhile: the replay frees what the stream frees.
    assert orphan_faults(rows_of(seats), stream_after(raw, start, "hold"), taken_before,
                         stream_after(raw, start, *FREEING)) == []


def test_the_orphan_replay_sees_an_avoidable_lone_seat() -> None:
    rows = [[["A1", "A2", "A3", "A4", "A5"]]]
    assert orphan_faults(rows, [("1-0", ["A2"])]) != []  # A1 alone; A1 itself would do
    assert orphan_faults(rows, [("1-0", ["A1"])]) == []
    assert orphan_faults([[["B1", "B2", "B3", "B4"]]],
                         [("1-0", ["B1"]), ("2-0", ["B4"]), ("3-0", ["B2"])]) == []  # unavoidable
