"""Protocol v1 over the wire: both encodings, identity, origin, every bad input."""

from __future__ import annotations

import asyncio

import aiohttp
import msgpack
import orjson
import pytest

from seatserver.loadgen.client import SeatClient, new_session
from seatserver.protocol.codecs import JSON_PROTOCOL, MSGPACK_PROTOCOL
from tests.realtime.conftest import ClientFactory
from tests.support import eventually


@pytest.mark.parametrize("protocol", [JSON_PROTOCOL, MSGPACK_PROTOCOL])
async def test_subscribe_gets_snapshot_then_live_updates(
        connect: ClientFactory, showtime: int, seats: list[str], protocol: str) -> None:
    watcher = await connect(protocol=protocol)
    buyer = await connect(protocol=protocol)
    watcher.keep_frames = True
    ack = await watcher.subscribe(showtime)
    assert ack == {"t": "ack", "ref": "1", "ok": True, "showtime": showtime,
                   "resumed": False}
    snapshot = watcher.frames[0]
    assert snapshot["t"] == "snapshot" and snapshot["held"] == [] and snapshot["mine"] == {}

    held = await buyer.hold(showtime, seats[:2])
    assert held["ok"] is True and held["expires_at"] > 0
    await eventually(lambda: watcher.views[showtime].held == set(seats[:2]))
    update = watcher.frames[-1]
    assert update["t"] == "update"
    assert update["seats"] == dict.fromkeys(seats[:2], "held")
    assert update["reasons"] == dict.fromkeys(seats[:2], "hold")
    # The ack names the hold's event: a client tells older updates by it.
    assert held["offset"] == update["offset"]

    released = await buyer.release(showtime, seats[:1])
    assert released["ok"] is True
    await eventually(lambda: watcher.views[showtime].held == {seats[1]})
    assert watcher.frames[-1]["reasons"] == {seats[0]: "release"}
    assert released["offset"] == watcher.frames[-1]["offset"]
    assert watcher.violations == []


async def test_snapshot_lists_own_holds_with_deadlines(
        connect: ClientFactory, showtime: int, seats: list[str]) -> None:
    client = await connect()
    ack = await client.hold(showtime, seats[:1])
    client.keep_frames = True
    await client.subscribe(showtime)
    assert client.frames[0]["mine"] == {seats[0]: ack["expires_at"]}


async def test_ping_answers_pong(connect: ClientFactory) -> None:
    client = await connect()
    assert await client.request("ping") == {"t": "pong", "ref": "1"}


async def test_upgrade_without_identity_is_refused(http: aiohttp.ClientSession,
                                                   base_url: str) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(base_url + "/ws")
    assert refused.value.status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(base_url + "/ws", headers={"Authorization": "Bearer nope"})
    assert refused.value.status == 401


async def test_browser_upgrade_from_foreign_origin_is_refused(
        http: aiohttp.ClientSession, base_url: str, connect: ClientFactory) -> None:
    token = await new_session(http, base_url)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await SeatClient(http, base_url, token, origin="https://evil.example").connect()
    assert refused.value.status == 403
    own = base_url  # the server's own origin is allowed by default
    client = await connect(origin=own)
    assert (await client.request("ping"))["t"] == "pong"


async def test_session_cookie_identifies_a_browser(http: aiohttp.ClientSession,
                                                   base_url: str) -> None:
    await new_session(http, base_url)  # sets the cookie in the jar
    async with http.ws_connect(base_url + "/ws", protocols=[JSON_PROTOCOL]) as ws:
        await ws.send_str('{"op":"ping","ref":"p"}')
        assert orjson.loads((await ws.receive()).data) == {"t": "pong", "ref": "p"}


BAD_JSON = [
    ("{not json", "bad_message"),
    ('"just a string"', "bad_message"),
    ("[1, 2]", "bad_message"),
    ('{"ref": "x"}', "bad_message"),
    ('{"op": "dance", "ref": "x"}', "bad_message"),
    ('{"op": "hold", "ref": "x", "seats": ["A1"]}', "bad_message"),
    ('{"op": "hold", "ref": "x", "showtime": "1", "seats": ["A1"]}', "bad_message"),
    ('{"op": "hold", "ref": "x", "showtime": -1, "seats": ["A1"]}', "bad_message"),
    ('{"op": "hold", "ref": "x", "showtime": 1, "seats": []}', "bad_message"),
    ('{"op": "hold", "ref": "x", "showtime": 1, "seats": "A1"}', "bad_message"),
    ('{"op": "hold", "ref": "x", "showtime": 1, "seats": ["A1", "A1"]}', "bad_message"),
    ('{"op": "hold", "ref": "x", "showtime": 1, "seats": [1]}', "bad_message"),
    ('{"op": "subscribe", "ref": "x", "showtime": 1, "view": "gallery"}', "bad_message"),
]


async def test_malformed_messages_answered_and_connection_stays_open(
        connect: ClientFactory) -> None:
    client = await connect()
    for raw, code in BAD_JSON:
        client.errors.clear()
        await client.send_raw(raw)
        await eventually(lambda: bool(client.errors))
        assert client.errors[0]["code"] == code, raw
        assert client.errors[0]["message"]
    await client.send_raw(b"\x00binary")
    await eventually(lambda: client.errors[-1]["message"].startswith("binary frame"))
    assert (await client.request("ping"))["t"] == "pong"


async def test_msgpack_protocol_refuses_text_and_garbage(connect: ClientFactory) -> None:
    client = await connect(protocol=MSGPACK_PROTOCOL)
    await client.send_raw('{"op":"ping"}')
    await eventually(lambda: bool(client.errors))
    assert client.errors[0]["code"] == "bad_message"
    await client.send_raw(b"\xc1\xc1")
    await eventually(lambda: len(client.errors) == 2)
    await client.send_raw(msgpack.packb([1, 2]))
    await eventually(lambda: len(client.errors) == 3)
    assert (await client.request("ping"))["t"] == "pong"


async def test_refusals_carry_their_codes(connect: ClientFactory, showtime: int,
                                          seats: list[str]) -> None:
    alice, bob = await connect(), await connect()
    await alice.hold(showtime, seats[:1])
    cases = [
        (bob.hold(showtime, seats[:2]), "seats_unavailable", [seats[0]]),
        (bob.release(showtime, seats[:1]), "not_holder", [seats[0]]),
        (bob.hold(showtime, ["Z99"]), "unknown_seat", ["Z99"]),
        (bob.hold(999_999, seats[:1]), "unknown_showtime", None),
        (bob.subscribe(999_999), "unknown_showtime", None),
        (bob.hold(showtime, seats[10:15]), "too_many_seats", None),
    ]
    for call, code, at_fault in cases:
        ack = await call
        assert ack["t"] == "ack" and ack["ok"] is False and ack["code"] == code, ack
        if at_fault is not None:
            assert ack["seats"] == at_fault
    assert (await bob.request("ping"))["t"] == "pong"


async def test_frame_over_size_limit_closes_with_1009(connect: ClientFactory) -> None:
    client = await connect()
    await client.send_raw('{"op":"ping","ref":"' + "x" * 20_000 + '"}')
    assert client.ws is not None
    await eventually(lambda: client.closed)
    assert client.ws.close_code == 1009


async def test_rate_limited_then_closed_when_flooding(connect: ClientFactory) -> None:
    client = await connect()
    acks = await asyncio.gather(*(client.request("ping") for _ in range(60)))
    assert any(a.get("code") == "rate_limited" for a in acks)
    assert sum(a["t"] == "pong" for a in acks) >= 40  # the burst is served
    for _ in range(200):
        if client.closed:
            break
        await client.send_raw('{"op":"ping"}')
    await eventually(lambda: client.closed)
    assert client.ws is not None and client.ws.close_code == 1008
