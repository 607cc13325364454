"""The two encodings of protocol v1: the same shapes as JSON text or msgpack.

A codec turns a frame into the bytes of a complete WebSocket frame (header
included). Server frames are unmasked, so one update's bytes are identical for
every subscriber of a codec: they are built once per update and written as is.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import msgpack
import orjson

from seatserver.errors import BadMessage

JSON_PROTOCOL = "seats.v1.json"
MSGPACK_PROTOCOL = "seats.v1.msgpack"

_TEXT, _BINARY = 0x1, 0x2


def ws_frame(opcode: int, payload: bytes) -> bytes:
    """A final, unmasked WebSocket data frame (RFC 6455 §5.2)."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return header + payload


@dataclass(frozen=True, slots=True)
class Codec:
    name: str
    binary: bool

    def encode(self, frame: dict[str, Any]) -> bytes:
        if self.binary:
            return bytes(msgpack.packb(frame, use_bin_type=True))
        return orjson.dumps(frame)

    def frame(self, frame: dict[str, Any]) -> bytes:
        return ws_frame(_BINARY if self.binary else _TEXT, self.encode(frame))

    def decode(self, data: str | bytes) -> Any:
        """Decode one client frame; a frame of the other kind is refused."""
        if self.binary:
            if isinstance(data, str):
                raise BadMessage("text frame on the msgpack protocol; send binary frames")
            try:
                return msgpack.unpackb(data, raw=False, strict_map_key=True)
            except Exception:
                raise BadMessage("invalid msgpack") from None
        if isinstance(data, bytes):
            raise BadMessage("binary frame on the JSON protocol; send text frames")
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            raise BadMessage("invalid JSON") from None


JSON = Codec(JSON_PROTOCOL, binary=False)
MSGPACK = Codec(MSGPACK_PROTOCOL, binary=True)
CODECS: tuple[Codec, ...] = (JSON, MSGPACK)
BY_PROTOCOL = {c.name: c for c in CODECS}
