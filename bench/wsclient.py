"""A lean WebSocket client for load generation: one asyncio Protocol per socket.

Why not aiohttp's client: every message it receives wakes the reader task of
its socket. Measured here, receiving costs ~13 µs of CPU per message with it
and ~8 µs with this client (kernel included), while a server spends ~13 µs
writing the frame to one subscriber: on two cores shared by server and load,
receivers that cost as much as the server would blur the comparison. Here a
frame is parsed in ``data_received`` and stamped with the time its bytes
arrived, with no task and no future per message. The same client measures our
server and the bare baselines, so whatever it costs, it costs both the same.

It speaks just enough RFC 6455 for the benchmarks: the upgrade, unfragmented
server frames, pong and close. Client frames carry a zero masking key (the
XOR is then a no-op); that is legal, and the servers unmask it as any other.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import time
from collections.abc import Callable
from typing import Any

OnMessage = Callable[["WsClient", bytes, float], None]

_TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x1, 0x2, 0x8, 0x9, 0xA
_ZERO_MASK = b"\0\0\0\0"


class HandshakeError(ConnectionError):
    """The server did not switch protocols; the message has its status line."""


def upgrade_request(host: str, port: int, path: str, token: str | None,
                    protocol: str | None) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if protocol:
        lines.append(f"Sec-WebSocket-Protocol: {protocol}")
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class WsClient(asyncio.Protocol):
    """One client socket. ``on_message(client, payload, arrived_at)`` per data frame."""

    def __init__(self, request: bytes, on_message: OnMessage,
                 ready: asyncio.Future[None]) -> None:
        self._request = request
        self._on_message = on_message
        self._ready = ready
        self._buf = bytearray()
        self._upgraded = False
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport
        self.closed = False
        # Free for the owner: what this socket is for and what it has seen.
        self.state: object = None

    # -- asyncio.Protocol --------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self._ready.done():
            self._ready.set_exception(exc or ConnectionError("closed during the upgrade"))

    def data_received(self, data: bytes) -> None:
        arrived = time.time()
        buf = self._buf
        buf += data
        if not self._upgraded and not self._upgrade(buf):
            return
        pos, end = 0, len(buf)
        while end - pos >= 2:
            b0, size = buf[pos], buf[pos + 1] & 0x7F
            head = 2
            if size == 126:
                if end - pos < 4:
                    break
                size, head = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
            elif size == 127:
                if end - pos < 10:
                    break
                size, head = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
            if end - pos < head + size:
                break
            payload = bytes(buf[pos + head:pos + head + size])
            pos += head + size
            self._frame(b0, payload, arrived)
        del buf[:pos]

    # -- sending -----------------------------------------------------------------

    def send(self, payload: bytes, opcode: int = _TEXT) -> None:
        if self.closed or self.transport is None:
            return
        size = len(payload)
        if size < 126:
            head = bytes((0x80 | opcode, 0x80 | size))
        elif size < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0xFE, size)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0xFF, size)
        self.transport.write(head + _ZERO_MASK + payload)

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.send(struct.pack("!H", 1000), _CLOSE)
            self.transport.close()
        self.closed = True

    # -- inside ------------------------------------------------------------------

    def _upgrade(self, buf: bytearray) -> bool:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        status = bytes(buf[:buf.find(b"\r\n")])
        del buf[:end + 4]
        if not status.startswith(b"HTTP/1.1 101"):
            self._ready.set_exception(HandshakeError(status.decode(errors="replace")))
            assert self.transport is not None
            self.transport.close()
            return False
        self._upgraded = True
        self._ready.set_result(None)
        return True

    def _frame(self, b0: int, payload: bytes, arrived: float) -> None:
        if not b0 & 0x80:
            raise ValueError("fragmented server frame: not expected from these servers")
        opcode = b0 & 0x0F
        if opcode in (_TEXT, _BINARY):
            self._on_message(self, payload, arrived)
        elif opcode == _PING:
            self.send(payload, _PONG)
        elif opcode == _CLOSE:
            self.close()


async def connect(host: str, port: int, on_message: OnMessage, *, path: str = "/ws",
                  token: str | None = None, protocol: str | None = "seats.v1.json",
                  within: float = 30.0) -> WsClient:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    request = upgrade_request(host, port, path, token, protocol)
    _, client = await loop.create_connection(
        lambda: WsClient(request, on_message, ready), host, port)
    try:
        await asyncio.wait_for(ready, within)
    except BaseException:
        client.close()
        raise
    return client
