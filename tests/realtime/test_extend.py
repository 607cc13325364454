"""`extend` over /ws: the ack, the refusals, and every other client seeing the
new deadlines through updates (both encodings)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from seatserver.protocol.codecs import JSON_PROTOCOL, MSGPACK_PROTOCOL
from tests.realtime.conftest import ClientFactory, ServerFactory
from tests.support import eventually

TTL_MS = 60_000  # the suite's settings: hold_ttl_s=60, so a limit of 120 s


@pytest.mark.parametrize("protocol", [JSON_PROTOCOL, MSGPACK_PROTOCOL])
async def test_extend_moves_the_deadlines_and_every_watcher_sees_them(
        connect: ClientFactory, showtime: int, seats: list[str], protocol: str) -> None:
    watcher = await connect(protocol=protocol)
    buyer = await connect(protocol=protocol)
    watcher.keep_frames = True
    await watcher.subscribe(showtime)
    held = await buyer.hold(showtime, seats[:2])
    await eventually(lambda: any(f.get("offset") == held["offset"] for f in watcher.frames))
    hold_update = next(f for f in watcher.frames if f.get("offset") == held["offset"])
    # Updates carry the deadline of each seat they leave held.
    assert hold_update["expires"] == dict.fromkeys(seats[:2], held["expires_at"])

    ack = await buyer.request("extend", showtime=showtime)

    new = held["expires_at"] + TTL_MS
    assert ack == {"t": "ack", "ref": ack["ref"], "ok": True, "expires_at": new,
                   "deadlines": dict.fromkeys(seats[:2], new), "limit_at": new,
                   "offset": ack["offset"], "epoch": held["epoch"]}
    await eventually(lambda: watcher.frames[-1].get("offset") == ack["offset"])
    update = watcher.frames[-1]
    assert update["seats"] == dict.fromkeys(seats[:2], "held")
    assert update["reasons"] == dict.fromkeys(seats[:2], "hold")  # documented reasons only
    assert update["expires"] == dict.fromkeys(seats[:2], new)
    assert watcher.violations == []

    # A newcomer's snapshot has everyone's deadlines, the buyer's its own too.
    late = await connect(protocol=protocol)
    late.keep_frames = True
    await late.subscribe(showtime)
    assert late.frames[0]["expires"] == dict.fromkeys(seats[:2], new)
    buyer.keep_frames = True
    await buyer.subscribe(showtime)
    snapshot = next(f for f in buyer.frames if f["t"] == "snapshot")
    assert snapshot["mine"] == dict.fromkeys(seats[:2], new)


async def test_extend_at_the_limit_is_refused_extend_limit(
        connect: ClientFactory, showtime: int, seats: list[str]) -> None:
    buyer = await connect()
    held = await buyer.hold(showtime, seats[:1])
    assert (await buyer.request("extend", showtime=showtime))["ok"] is True
    refused = await buyer.request("extend", showtime=showtime)
    assert refused["ok"] is False and refused["code"] == "extend_limit"
    assert refused["limit_at"] == held["expires_at"] + TTL_MS
    assert "cannot be held any longer" in refused["message"]
    # Holding the seat again does not start the run over.
    again = await buyer.hold(showtime, seats[:1])
    assert again["expires_at"] <= held["expires_at"] + TTL_MS


async def test_extend_with_nothing_held_is_refused_nothing_held(
        connect: ClientFactory, showtime: int, seats: list[str]) -> None:
    other = await connect()
    await other.hold(showtime, seats[:1])
    buyer = await connect()
    refused = await buyer.request("extend", showtime=showtime)
    assert (refused["ok"], refused["code"]) == (False, "nothing_held")
    await buyer.hold(showtime, seats[1:2])
    await buyer.release(showtime, seats[1:2])
    refused = await buyer.request("extend", showtime=showtime)
    assert (refused["ok"], refused["code"]) == (False, "nothing_held")


async def test_extend_of_an_unknown_showtime_is_refused(connect: ClientFactory) -> None:
    buyer = await connect()
    refused = await buyer.request("extend", showtime=999_999_999)
    assert (refused["ok"], refused["code"]) == (False, "unknown_showtime")


async def test_rapid_repeated_extends_move_the_deadline_once_to_the_limit(
        connect: ClientFactory, showtime: int, seats: list[str]) -> None:
    buyer = await connect()
    held = await buyer.hold(showtime, seats[:1])
    acks: list[dict[str, Any]] = await asyncio.gather(
        *(buyer.request("extend", showtime=showtime) for _ in range(10)))
    granted = [a for a in acks if a["ok"]]
    assert len(granted) == 1 and granted[0]["expires_at"] == held["expires_at"] + TTL_MS
    assert {a.get("code") for a in acks if not a["ok"]} <= {"extend_limit", "rate_limited"}


async def test_extend_on_a_short_limit_server(make_server: ServerFactory, demo: list[int],
                                              connect: ClientFactory, seats: list[str]
                                              ) -> None:
    server: TestServer = await make_server(hold_ttl_s=60, hold_max_s=90)
    base = str(server.make_url("/")).rstrip("/")
    buyer = await connect(base)
    held = await buyer.hold(demo[0], seats[:1])
    ack = await buyer.request("extend", showtime=demo[0])
    assert ack["expires_at"] == ack["limit_at"] == held["expires_at"] + 30_000
