"""SeatClient's view of its own holds, against a scripted peer that sends the
frames a real server may send, in orders a real server produces only now and
then (an ack written before older updates of the same seat reach the room)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from seatserver.loadgen.client import SeatClient
from tests.support import eventually

SHOWTIME = 7
EXPIRES = 1_900_000_000_000
Frame = dict[str, Any]
# What the peer answers to one client message: a list of frames, or a pause (s).
Script = Callable[[Frame], list[Frame | float]]
Peer = Callable[[Script], Awaitable[SeatClient]]


def update(offset: str, seat: str, state: str, reason: str) -> Frame:
    return {"t": "update", "showtime": SHOWTIME, "offset": offset, "seats": {seat: state},
            "reasons": {seat: reason}}


def snapshot(offset: str, held: list[str], mine: dict[str, int]) -> Frame:
    return {"t": "snapshot", "showtime": SHOWTIME, "offset": offset, "held": held,
            "booked": [], "mine": mine}


def answers(on_hold: Callable[[str], list[Frame | float]]) -> Script:
    """Subscribe: a snapshot at 1-0 with nothing held; hold: what ``on_hold``
    gives for the message's ref; anything else: ok."""
    def answer(msg: Frame) -> list[Frame | float]:
        ref = msg["ref"]
        if msg["op"] == "subscribe":
            return [snapshot("1-0", [], {}), {"t": "ack", "ref": ref, "ok": True}]
        if msg["op"] == "hold":
            return on_hold(ref)
        return [{"t": "ack", "ref": ref, "ok": True}]
    return answer


@pytest.fixture
async def peer(aiohttp_server: Any) -> AsyncIterator[Peer]:
    """Starts a WebSocket peer that plays a script, and a client connected to it."""
    clients: list[SeatClient] = []
    async with aiohttp.ClientSession() as http:
        async def start(script: Script) -> SeatClient:
            async def ws(request: web.Request) -> web.WebSocketResponse:
                sock = web.WebSocketResponse(protocols=["seats.v1.json"])
                await sock.prepare(request)
                async for msg in sock:
                    for step in script(orjson.loads(msg.data)):
                        if isinstance(step, float):
                            await asyncio.sleep(step)
                        else:
                            await sock.send_str(orjson.dumps(step).decode())
                return sock

            app = web.Application()
            app.router.add_get("/ws", ws)
            server: TestServer = await aiohttp_server(app)
            client = SeatClient(http, str(server.make_url("/")), "token")
            clients.append(await client.connect())
            return client

        yield start
        for client in clients:
            await client.close()


async def test_own_hold_survives_older_updates_of_its_seat_that_arrive_after_the_ack(
        peer: Peer) -> None:
    # Someone held and released F14 (2-0, 3-0) just before our hold (4-0); the
    # room fans those out after our ack went. They are old news: F14 is ours.
    client = await peer(answers(lambda ref: [
        {"t": "ack", "ref": ref, "ok": True, "expires_at": EXPIRES, "offset": "4-0"},
        update("2-0", "F14", "held", "hold"),
        update("3-0", "F14", "free", "release"),
        update("4-0", "F14", "held", "hold")]))
    await client.subscribe(SHOWTIME)
    await client.hold(SHOWTIME, ["F14"])
    view = client.views[SHOWTIME]
    await eventually(lambda: view.offset == "4-0")

    assert view.mine == {"F14": EXPIRES} and view.held == {"F14"}
    assert client.violations == []


@pytest.mark.parametrize(("after_hold", "ours"), [
    # The update of our hold first, then its ack.
    ([update("4-0", "F14", "held", "hold"), "ack"], {"F14": EXPIRES}),
    # A hold that truly ends after it was acked is gone from the view.
    (["ack", update("4-0", "F14", "held", "hold"), update("5-0", "F14", "free", "expire")],
     {}),
    # The view saw the hold and its end before the ack: the ack is old news.
    ([update("4-0", "F14", "held", "hold"), update("5-0", "F14", "free", "expire"), "ack"],
     {}),
    # Booked by our checkout after the ack: no longer a hold.
    (["ack", update("5-0", "F14", "booked", "book")], {}),
    # An unsolicited snapshot from before our hold cannot know of it...
    (["ack", snapshot("3-0", [], {}), update("4-0", "F14", "held", "hold")],
     {"F14": EXPIRES}),
    # ...one from after it says what is ours.
    (["ack", snapshot("5-0", [], {})], {}),
], ids=["echo_before_ack", "ended_after_ack", "ended_before_ack", "booked_later",
        "older_snapshot", "newer_snapshot"])
async def test_own_holds_follow_every_order_of_ack_and_updates(
        peer: Peer, after_hold: list[Frame | str], ours: dict[str, int]) -> None:
    def on_hold(ref: str) -> list[Frame | float]:
        ack = {"t": "ack", "ref": ref, "ok": True, "expires_at": EXPIRES, "offset": "4-0"}
        return [step if isinstance(step, dict) else ack for step in after_hold]

    client = await peer(answers(on_hold))
    await client.subscribe(SHOWTIME)
    await client.hold(SHOWTIME, ["F14"])
    view = client.views[SHOWTIME]
    last = [s for s in after_hold if isinstance(s, dict)][-1]["offset"]
    await eventually(lambda: view.offset == last)

    assert view.mine == ours
    assert client.violations == []


async def cut_short(client: SeatClient, seats: list[str]) -> None:
    """A hold whose step is cancelled before its reply comes, as a run's stop does."""
    hold = asyncio.create_task(client.hold(SHOWTIME, seats))
    await asyncio.sleep(0.05)
    hold.cancel()
    await asyncio.gather(hold, return_exceptions=True)


async def test_settle_waits_for_the_reply_of_a_hold_cut_short(peer: Peer) -> None:
    client = await peer(answers(lambda ref: [
        0.3, update("2-0", "F14", "held", "hold"),
        {"t": "ack", "ref": ref, "ok": True, "expires_at": EXPIRES, "offset": "2-0"}]))
    await client.subscribe(SHOWTIME)
    await cut_short(client, ["F14"])
    assert client.views[SHOWTIME].mine == {}

    await client.settle(SHOWTIME, wait_s=5)

    assert client.views[SHOWTIME].mine == {"F14": EXPIRES}
    assert client.views[SHOWTIME].snapshots == 1 and not client.unsure


async def test_settle_takes_a_snapshot_when_a_hold_reply_never_comes(
        peer: Peer) -> None:
    # The hold went through, but its reply does not come within the wait: the
    # outcome is unknown, and only a snapshot can say the seat is ours.
    subscribes = 0

    def answer(msg: Frame) -> list[Frame | float]:
        nonlocal subscribes
        if msg["op"] == "hold":
            return []
        if msg["op"] == "subscribe":
            subscribes += 1
            if subscribes == 2:
                return [snapshot("2-0", ["F14"], {"F14": EXPIRES}),
                        {"t": "ack", "ref": msg["ref"], "ok": True}]
        return answers(lambda ref: [])(msg)

    client = await peer(answer)
    await client.subscribe(SHOWTIME)
    await cut_short(client, ["F14"])

    await client.settle(SHOWTIME, wait_s=0.2)

    view = client.views[SHOWTIME]
    assert subscribes == 2 and view.snapshots == 2 and not client.unsure
    assert view.mine == {"F14": EXPIRES} and view.held == {"F14"}
