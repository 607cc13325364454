"""Hostile and clumsy input on the WebSocket: a well-formed answer, never
`internal_error`, and the connection stays usable (both encodings)."""

from __future__ import annotations

from typing import Any

import pytest

from seatserver.protocol.codecs import JSON_PROTOCOL, MSGPACK_PROTOCOL
from tests.protocol.conftest import Exchange
from tests.realtime.conftest import ClientFactory

PROTOCOLS = [JSON_PROTOCOL, MSGPACK_PROTOCOL]

# docs/protocol.md: an invalid offset gets a snapshot.
BAD_OFFSETS = ["²-0", "١٢-0", "1-²", "99999999999999999999-0", "1-99999999999999999999",
               "18446744073709551616-0", "0x1-0", "-1-0", "1--1", " 1-0", "1-0\x00", "\x00",
               "1_0-0", "+1-0", "1-0-0", "", "-", "9" * 64]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_subscribe_from_a_malformed_offset_gets_a_snapshot(
        connect: ClientFactory, exchange: Exchange, showtime: int, protocol: str) -> None:
    client = await connect(protocol=protocol)
    for since in BAD_OFFSETS:
        frames = await exchange(client, {"op": "subscribe", "ref": "s", "showtime": showtime,
                                         "since": since})
        assert [f["t"] for f in frames] == ["snapshot", "ack"], (since, frames)
        assert frames[1]["ok"] is True and frames[1]["resumed"] is False, (since, frames)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_oversized_ref_is_refused_and_never_echoed(
        connect: ClientFactory, exchange: Exchange, showtime: int, protocol: str) -> None:
    client = await connect(protocol=protocol)
    for ref in ("r" * 65, "r" * 5000, "é" * 65):
        frames = await exchange(client, {"op": "ping", "ref": ref})
        assert len(frames) == 1 and frames[0]["t"] == "error", frames
        assert frames[0]["code"] == "bad_message" and "ref" not in frames[0]
        assert "r" * 65 not in str(frames[0])
    frames = await exchange(client, {"op": "hold", "ref": "h" * 5000, "showtime": showtime,
                                     "seats": ["A1"]})
    assert [(f["t"], f["code"]) for f in frames] == [("error", "bad_message")]
    assert "ref" not in frames[0]
    assert client.views.get(showtime) is None or not client.views[showtime].mine
    # At the limit, it is echoed.
    frames = await exchange(client, {"op": "ping", "ref": "r" * 64})
    assert frames == [{"t": "pong", "ref": "r" * 64}]


HOSTILE: list[Any] = [
    {"op": "subscribe", "showtime": 2**63},
    {"op": "subscribe", "showtime": 2**64 - 1},
    {"op": "subscribe", "showtime": -(2**63)},
    {"op": "subscribe", "showtime": 9223372036854775807},
    {"op": "subscribe", "showtime": 1.5},
    {"op": "subscribe", "showtime": "1"},
    {"op": "subscribe", "showtime": True},
    {"op": "subscribe", "showtime": None},
    {"op": "subscribe", "showtime": [1]},
    {"op": "subscribe", "showtime": {"a": 1}},
    {"op": "subscribe", "showtime": 1, "view": "\x00"},
    {"op": "subscribe", "showtime": 1, "since": 1},
    {"op": "subscribe", "showtime": 1, "since": ["1-0"]},
    {"op": "subscribe", "showtime": 1, "since": "1-0", "epoch": 5},
    {"op": "subscribe", "showtime": 1, "since": "1-0", "epoch": "e" * 65},
    {"op": "subscribe", "showtime": 1, "since": "1-0", "epoch": "\x00"},
    {"op": "hold", "showtime": 1, "seats": ["A1\x00"]},
    {"op": "hold", "showtime": 1, "seats": ["A1,A2"]},
    {"op": "hold", "showtime": 1, "seats": ["*"]},
    {"op": "hold", "showtime": 1, "seats": ["'; --"]},
    {"op": "hold", "showtime": 1, "seats": ["\uff21\uff11"]},
    {"op": "hold", "showtime": 1, "seats": ["\U0001f600"]},
    {"op": "hold", "showtime": 1, "seats": ["x" * 17]},
    {"op": "hold", "showtime": 1, "seats": [""]},
    {"op": "hold", "showtime": 1, "seats": []},
    {"op": "hold", "showtime": 1, "seats": ["A1"] * 2},
    {"op": "hold", "showtime": 1, "seats": ["A1"] * 101},
    {"op": "hold", "showtime": 1, "seats": [1]},
    {"op": "hold", "showtime": 1, "seats": [[["A1"]]]},
    {"op": "hold", "showtime": 1, "seats": "A1"},
    {"op": "hold", "showtime": 999_999_999, "seats": ["A1"]},
    {"op": "release", "showtime": 1, "seats": ["A1\x00"]},
    {"op": "unsubscribe", "showtime": 2**64 - 1},
    {"op": "unsubscribe", "showtime": 77},
    {"op": "\x00"},
    {"op": "p" * 10_000},
    {"op": None},
    {"op": ["ping"]},
    {"op": "ping", "ref": True},
    {"op": "ping", "ref": 1.5},
    {"op": "ping", "ref": None},
    {"op": "ping", "ref": {"a": "b"}},
    {"op": "ping", "ref": -(2**63)},
    {"op": "ping", "ref": 2**64 - 1},
    {"op": "ping", "ref": "\x00"},
    {"ref": "no op"},
    {},
    [],
    [{"op": "ping"}],
    "ping",
    0,
    None,
    {"a": {"b": {"c": {"d": {"e": [[[[[[]]]]]]}}}}},
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_hostile_fields_get_a_well_formed_answer(
        connect: ClientFactory, exchange: Exchange, showtime: int, protocol: str) -> None:
    client = await connect(protocol=protocol)
    for message in HOSTILE:
        if isinstance(message, dict) and message.get("showtime") == 1:
            message = {**message, "showtime": showtime}
        frames = await exchange(client, message)
        assert frames, message
        for frame in frames:
            assert frame["t"] in ("ack", "error", "snapshot", "pong"), (message, frame)
            assert frame.get("code") != "internal_error", (message, frame)


async def test_raw_garbage_frames_get_bad_message(connect: ClientFactory,
                                                  exchange: Exchange) -> None:
    text = await connect(protocol=JSON_PROTOCOL)
    for raw in ("", "\x00", "{", '{"op":"ping","ref":"\\ud800"}', "[" * 5000 + "]" * 5000,
                '{"op":"subscribe","showtime":1e400}', '{"op":"ping","ref":' + "9" * 5000 + "}",
                '{"op":"unsubscribe","showtime":' + "9" * 30 + "}",
                "NaN", '{"op":"subscribe","showtime":1,"showtime":2}', b"\x00\xff"):
        frames = await exchange(text, raw)
        assert frames and all(f.get("code") != "internal_error" for f in frames), (raw, frames)
    binary = await connect(protocol=MSGPACK_PROTOCOL)
    for raw in (b"", b"\xc1", b"\x81\x01\x02", b"\x81\xc4\x02op\xa4ping", b"\xdd\xff\xff\xff\xff",
                b"\x91" * 5000 + b"\xc0", b"\xa2\xff\xfe", b"\xd4\x05\x00", "text"):
        frames = await exchange(binary, raw)
        assert frames and all(f.get("code") != "internal_error" for f in frames), (raw, frames)


EXTEND_HOSTILE: list[Any] = [
    {"op": "extend"},
    {"op": "extend", "showtime": 2**63},
    {"op": "extend", "showtime": 2**64 - 1},
    {"op": "extend", "showtime": -1},
    {"op": "extend", "showtime": 0},
    {"op": "extend", "showtime": "1\x00"},
    {"op": "extend", "showtime": "1"},
    {"op": "extend", "showtime": 1.0},
    {"op": "extend", "showtime": True},
    {"op": "extend", "showtime": [1]},
    {"op": "extend\x00", "showtime": 1},
    {"op": "EXTEND", "showtime": 1},
    {"op": "extend", "showtime": 999_999_999},
    {"op": "extend", "showtime": 1, "ref": "\x00"},
    {"op": "extend", "showtime": 1, "ref": "e" * 65},
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_hostile_extends_get_a_clear_answer(
        connect: ClientFactory, exchange: Exchange, showtime: int, protocol: str) -> None:
    client = await connect(protocol=protocol)
    answers = []
    for message in EXTEND_HOSTILE:
        if type(message.get("showtime")) is int and message["showtime"] == 1:
            message = {**message, "showtime": showtime}
        frames = await exchange(client, message)
        assert len(frames) == 1, (message, frames)
        answers.append((frames[0]["t"], frames[0]["code"]))
        assert frames[0]["message"], frames
    assert answers == [("error", "bad_message")] * 12 + [
        ("ack", "unknown_showtime"), ("ack", "nothing_held"), ("error", "bad_message")]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_extend_ignores_extra_fields_and_moves_every_hold(
        connect: ClientFactory, exchange: Exchange, showtime: int, seats: list[str],
        protocol: str) -> None:
    client = await connect(protocol=protocol)
    held = await client.hold(showtime, seats[:2])
    # Unknown fields are ignored (docs/protocol.md): `seats` does not narrow it.
    frames = await exchange(client, {"op": "extend", "ref": "x", "showtime": showtime,
                                     "seats": [seats[0]], "ttl": 10**9, "\x00": "\x00",
                                     "holder": "someone-else"})
    assert len(frames) == 1 and frames[0]["ok"] is True, frames
    assert frames[0]["deadlines"] == dict.fromkeys(seats[:2], held["expires_at"] + 60_000)
    # Replays of the same frame: refused at the limit, nothing moves.
    for _ in range(3):
        again = await exchange(client, {"op": "extend", "ref": "x", "showtime": showtime})
        assert [(f["ok"], f["code"]) for f in again] == [(False, "extend_limit")]
