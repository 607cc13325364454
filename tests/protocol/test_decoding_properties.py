"""Properties of the decoders (seatserver/protocol): any frame is either a typed
message or a BadMessage, and whatever is refused can be answered."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seatserver.errors import BadMessage
from seatserver.protocol import messages as m
from seatserver.protocol.codecs import JSON, MSGPACK, Codec
from tests.protocol.strategies import BOUNDED, MSGPACK_INTS, commands, values

SEATS = [f"A{n}" for n in range(1, 9)]


def _answer(codec: Codec, raw: Any) -> dict[str, Any]:
    """What the server does with a decoded frame short of running it: a typed
    message, or the error frame it would send (which must encode)."""
    try:
        msg = m.parse(raw)
    except BadMessage as err:
        frame = m.error(m.ref_of(raw), err)
        codec.frame(frame)
        return frame
    assert msg.op in m.OPS
    if msg.ref is not None:
        assert len(str(msg.ref)) <= m.MAX_REF_CHARS
    codec.frame(m.pong(msg.ref))  # every reply echoes the ref: it must encode
    return {"t": "parsed"}


def _decode(codec: Codec, data: str | bytes) -> Any:
    try:
        return codec.decode(data)
    except BadMessage:
        return None


@BOUNDED
@given(st.binary(max_size=300))
def test_any_bytes_decode_or_are_refused_as_bad_message(data: bytes) -> None:
    raw = _decode(MSGPACK, data)
    if raw is not None:
        _answer(MSGPACK, raw)
    with pytest.raises(BadMessage):
        JSON.decode(data)  # a binary frame on the JSON protocol


@BOUNDED
@given(st.text(max_size=300))
def test_any_text_decodes_or_is_refused_as_bad_message(text: str) -> None:
    raw = _decode(JSON, text)
    if raw is not None:
        _answer(JSON, raw)
    with pytest.raises(BadMessage):
        MSGPACK.decode(text)


@BOUNDED
@given(values(st.integers()))
def test_any_json_value_parses_or_is_refused(value: Any) -> None:
    text = json.dumps(value)  # stdlib: integers of any size, as a client may send
    raw = _decode(JSON, text)
    if raw is not None:
        _answer(JSON, raw)


@BOUNDED
@given(values(MSGPACK_INTS))
def test_any_msgpack_value_parses_or_is_refused(value: Any) -> None:
    raw = _decode(MSGPACK, msgpack.packb(value, use_bin_type=True))
    if raw is not None:
        _answer(MSGPACK, raw)


@BOUNDED
@given(commands(1, SEATS, st.integers()))
def test_commands_with_hostile_fields_parse_or_are_refused_json(command: dict[str, Any]
                                                                 ) -> None:
    raw = _decode(JSON, json.dumps(command))
    assert raw is not None  # stdlib JSON is valid JSON
    _answer(JSON, raw)


@BOUNDED
@given(commands(1, SEATS, MSGPACK_INTS))
def test_commands_with_hostile_fields_parse_or_are_refused_msgpack(command: dict[str, Any]
                                                                    ) -> None:
    raw = _decode(MSGPACK, msgpack.packb(command, use_bin_type=True))
    assert raw is not None
    _answer(MSGPACK, raw)
