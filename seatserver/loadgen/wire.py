"""A lean WebSocket client: one asyncio Protocol per socket, no task per message.

Why not aiohttp's client: every message it receives wakes the reader task of
its socket (a future and a task switch per message). A simulated buyer
receives an update for every change in its room, so that is the load
generator's largest cost (``python -m bench.buyercost`` measures it). Here a
socket's frames are parsed in ``data_received`` and handed to a callback with
the time their bytes arrived.

It speaks the part of RFC 6455 a client of our server needs: the upgrade
(``ws://`` and ``wss://``, a subprotocol, extra headers), text and binary
frames of any length, fragmented messages, ping → pong and the close
handshake. Anything else from the server (reserved bits or opcodes, a masked
frame, a bad control frame, a truncated frame, an oversized message) fails the
socket: it is closed, with ``failure`` saying why, and nothing is raised into
the event loop. Client frames carry a zero masking key (the XOR is then a
no-op): legal, and unmasked by the server as any other key.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import logging
import os
import ssl as ssl_module
import struct
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

log = logging.getLogger(__name__)

OnMessage = Callable[["WireSocket", bytes, float], None]
OnClose = Callable[["WireSocket"], None]

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CLOSE_NORMAL, CLOSE_PROTOCOL_ERROR, CLOSE_TOO_BIG = 1000, 1002, 1009
CLOSE_NO_STATUS = 1005  # the close frame carried no code (RFC 6455 §7.1.5)
MAX_MESSAGE = 16 << 20  # far above any frame of ours; bounds a hostile peer's
MAX_RESPONSE_HEAD = 64 << 10  # the upgrade response's status line and headers
CLOSE_WAIT_S = 2.0  # for the server's close frame after ours
_ZERO_MASK = b"\0\0\0\0"
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# Final text and binary frames with no reserved bit: the common case, tested first.
_FAST = (0x80 | TEXT, 0x80 | BINARY)


class HandshakeRefused(aiohttp.WSServerHandshakeError):
    """The server answered the upgrade with another status than 101 (or not
    as RFC 6455 says). An ``aiohttp.WSServerHandshakeError``, with ``status``,
    so callers that used aiohttp's client handle it as before."""

    def __init__(self, url: URL, status: int, message: str,
                 headers: CIMultiDict[str] | None = None) -> None:
        info = aiohttp.RequestInfo(url, "GET", CIMultiDictProxy(CIMultiDict()), url)
        super().__init__(info, (), status=status, message=message, headers=headers)


class _Failed(Exception):
    """The server broke the protocol: the socket fails with this reason."""

    def __init__(self, reason: str, code: int = CLOSE_PROTOCOL_ERROR) -> None:
        super().__init__(reason)
        self.code = code


def _drop(sock: WireSocket, payload: bytes, arrived: float) -> None:
    pass


def upgrade_request(url: URL, key: str, protocol: str | None,
                    headers: Mapping[str, str] | None = None) -> bytes:
    """The HTTP/1.1 upgrade request (RFC 6455 §4.1)."""
    host = url.host or ""
    if ":" in host:
        host = f"[{host}]"
    if not url.is_default_port():
        host = f"{host}:{url.port}"
    lines = [
        f"GET {url.raw_path_qs or '/'} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if protocol:
        lines.append(f"Sec-WebSocket-Protocol: {protocol}")
    for name, value in (headers or {}).items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"header {name!r} has a line break")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()


def frame_head(opcode: int, size: int) -> bytes:
    """A final, masked client frame's header, its (zero) masking key included."""
    if size < 126:
        return bytes((0x80 | opcode, 0x80 | size)) + _ZERO_MASK
    if size < 65536:
        return struct.pack("!BBH", 0x80 | opcode, 0xFE, size) + _ZERO_MASK
    return struct.pack("!BBQ", 0x80 | opcode, 0xFF, size) + _ZERO_MASK


class WireSocket(asyncio.Protocol):
    """One client socket. ``on_message(socket, payload, arrived)`` per data
    message (``arrived``: ``time.time()`` when its last bytes came);
    ``on_close(socket)`` once, when it closes or fails, after which nothing
    more is delivered."""

    def __init__(self, url: URL, request: bytes, key: str, on_message: OnMessage,
                 on_close: OnClose | None = None, *, max_message: int = MAX_MESSAGE) -> None:
        self._url = url
        self._request = request
        self._accept = accept_key(key).encode()
        self._on_message = on_message
        self._on_close = on_close
        self._max = max_message
        loop = asyncio.get_running_loop()
        self._ready: asyncio.Future[None] = loop.create_future()
        self._ended: asyncio.Future[None] = loop.create_future()
        self._buf = bytearray()
        self._upgraded = False
        self._fragments: bytearray | None = None
        self._need = 0  # bytes the frame begun in ``_buf`` takes, when known
        self._close_sent = False
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport
        self.protocol: str | None = None  # the subprotocol the server chose
        self.closed = False
        self.close_code: int | None = None  # from the server's close frame
        self.close_reason = ""
        self.failure = ""  # why the socket failed; "" when it closed
        # Free for the owner: what this socket is for and what it has seen.
        self.state: object = None

    # -- asyncio.Protocol --------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._ready.done():
            self._ready.set_exception(
                exc or ConnectionResetError("connection closed during the upgrade"))
            # Retrieved by whoever awaits the upgrade, if anyone still does.
            self._ready.exception()
        elif self._buf and not self.closed and not self.failure:
            self.failure = f"truncated frame: the connection ended {len(self._buf)} bytes in"
        self._end()

    def data_received(self, data: bytes) -> None:
        if self.closed and self._upgraded:
            return
        arrived = time.time()
        if self._buf:
            self._buf += data
            if len(self._buf) < self._need:
                return  # the rest of a long frame is still to come
            data = bytes(self._buf)
            self._buf.clear()
        if not self._upgraded:
            data = self._upgrade(data)
            if not data:
                return
        try:
            used = self._frames(data, arrived)
        except _Failed as failed:
            self._fail(str(failed), failed.code)
            return
        except Exception as exc:
            log.exception("a WebSocket message handler failed")
            self._fail(f"handler failed: {exc!r}", 1011)
            return
        if used < len(data) and not self.closed:
            self._buf += memoryview(data)[used:]

    def eof_received(self) -> bool | None:
        return None  # close the transport: the server is done

    # -- sending -----------------------------------------------------------------

    def send(self, payload: bytes, opcode: int = TEXT) -> bool:
        """Write one frame; False when the socket is closed (nothing written)."""
        if self.closed or self._close_sent or self.transport is None:
            return False
        self.transport.write(frame_head(opcode, len(payload)) + payload)
        return True

    def close(self, code: int = CLOSE_NORMAL) -> None:
        """Send a close frame and drop the connection at once (no wait for the
        server's close frame: see ``aclose``)."""
        self._send_close(code)
        if self.transport is not None:
            self.transport.close()
        self._end()

    async def aclose(self, code: int = CLOSE_NORMAL, within: float = CLOSE_WAIT_S) -> None:
        """The close handshake: our close frame, then the server's (or its
        end of the connection), waited for ``within`` seconds at most."""
        if not self.closed and self.transport is not None:
            self._send_close(code)
            try:
                await asyncio.wait_for(asyncio.shield(self._ended), within)
            except TimeoutError:
                pass
        self.close(code)

    async def wait_closed(self) -> None:
        await asyncio.shield(self._ended)

    # -- inside ------------------------------------------------------------------

    def _send_close(self, code: int) -> None:
        if not self._close_sent and not self.closed and self.transport is not None:
            self.transport.write(frame_head(CLOSE, 2) + struct.pack("!H", code))
            self._close_sent = True
            # Messages still on their way are dropped; the server's close frame is awaited.
            self._on_message = _drop

    def _end(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._buf.clear()
        self._fragments = None
        if not self._ended.done():
            self._ended.set_result(None)
        if self._upgraded and self._on_close is not None:
            self._on_close(self)

    def _fail(self, reason: str, code: int = CLOSE_PROTOCOL_ERROR) -> None:
        if not self.closed:
            self.failure = self.failure or reason
            if self.transport is not None:
                self._send_close(code)
                self.transport.close()
        self._end()

    def _upgrade(self, data: bytes) -> bytes:
        """Read the upgrade response; return the bytes after it (frames)."""
        end = data.find(b"\r\n\r\n")
        if end < 0:
            if len(data) > MAX_RESPONSE_HEAD:
                self._refuse(0, "upgrade response too long")
            else:
                self._buf += data
            return b""
        lines = data[:end].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        headers: CIMultiDict[str] = CIMultiDict()
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.add(name.strip(), value.strip())
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        if status != 101 or not parts[0].startswith("HTTP/1."):
            self._refuse(status, parts[2] if len(parts) > 2 else "invalid status line",
                         headers)
            return b""
        if (headers.get("Upgrade", "").lower() != "websocket"
                or headers.get("Sec-WebSocket-Accept", "").encode() != self._accept):
            self._refuse(status, "not a WebSocket upgrade (Upgrade or Sec-WebSocket-Accept)",
                         headers)
            return b""
        self.protocol = headers.get("Sec-WebSocket-Protocol")
        self._upgraded = True
        self._ready.set_result(None)
        return data[end + 4:]

    def _refuse(self, status: int, message: str, headers: CIMultiDict[str] | None = None
                ) -> None:
        if not self._ready.done():
            self._ready.set_exception(HandshakeRefused(self._url, status, message, headers))
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        if not self._ended.done():
            self._ended.set_result(None)

    def _frames(self, data: bytes, arrived: float) -> int:
        """Handle every whole frame of ``data``; return how many bytes they took."""
        pos, end = 0, len(data)
        self._need = 0
        on_message = self._on_message
        while end - pos >= 2:
            b0, size = data[pos], data[pos + 1]
            if size & 0x80:
                raise _Failed("masked frame from the server")
            head = pos + 2
            if size == 126:
                if end - pos < 4:
                    break
                size, head = (data[pos + 2] << 8) | data[pos + 3], pos + 4
            elif size == 127:
                if end - pos < 10:
                    break
                size, head = int.from_bytes(data[pos + 2:pos + 10], "big"), pos + 10
            if size > self._max:
                raise _Failed(f"frame of {size} bytes over the limit of {self._max}",
                              CLOSE_TOO_BIG)
            stop = head + size
            if stop > end:
                self._need = stop - pos
                break
            pos = stop
            if b0 in _FAST and self._fragments is None:
                on_message(self, data[head:stop], arrived)
            else:
                self._other(b0, data[head:stop], arrived)
            if self.closed:
                break
        return pos

    def _other(self, b0: int, payload: bytes, arrived: float) -> None:
        """Every frame but a final text or binary one outside a fragmented message."""
        if b0 & 0x70:
            raise _Failed(f"reserved bits set (0x{b0:02x}) with no extension agreed")
        if b0 & 0x0F >= CLOSE:
            self._control(b0, payload)
        else:
            self._fragment(b0, payload, arrived)

    def _control(self, b0: int, payload: bytes) -> None:
        opcode = b0 & 0x0F
        if not b0 & 0x80 or len(payload) > 125:
            raise _Failed("control frame fragmented or over 125 bytes")
        if opcode == CLOSE:
            self._closed_by_server(payload)
        elif opcode == PING:
            self.send(payload, PONG)
        elif opcode != PONG:
            raise _Failed(f"reserved opcode 0x{opcode:x}")

    def _fragment(self, b0: int, payload: bytes, arrived: float) -> None:
        """A part of a fragmented message (RFC 6455 §5.4)."""
        opcode = b0 & 0x0F
        if opcode in (TEXT, BINARY):
            if self._fragments is not None:
                raise _Failed("new message inside a fragmented one")
            self._fragments = bytearray(payload)
        elif opcode == CONTINUATION:
            if self._fragments is None:
                raise _Failed("continuation frame with no message to continue")
            self._fragments += payload
            if len(self._fragments) > self._max:
                raise _Failed(f"message over the limit of {self._max} bytes", CLOSE_TOO_BIG)
        else:
            raise _Failed(f"reserved opcode 0x{opcode:x}")
        if b0 & 0x80:
            message, self._fragments = bytes(self._fragments), None
            self._on_message(self, message, arrived)

    def _closed_by_server(self, payload: bytes) -> None:
        if len(payload) == 1:
            raise _Failed("close frame with a one-byte payload")
        code = struct.unpack("!H", payload[:2])[0] if payload else CLOSE_NO_STATUS
        try:
            reason = payload[2:].decode()
        except UnicodeDecodeError:
            raise _Failed("close reason is not UTF-8") from None
        self.close_code, self.close_reason = code, reason
        self._send_close(code if payload else CLOSE_NORMAL)
        if self.transport is not None:
            self.transport.close()
        self._end()


def tls_context(url: URL, ssl: ssl_module.SSLContext | bool | None) -> ssl_module.SSLContext | None:
    """The TLS context for ``url``: None for ws://; for wss://, the one given,
    the default one, or (``ssl=False``) one that checks nothing."""
    if url.scheme not in ("wss", "https"):
        return None
    if isinstance(ssl, ssl_module.SSLContext):
        return ssl
    return _default_context(checks=ssl is not False)


@functools.cache
def _default_context(*, checks: bool) -> ssl_module.SSLContext:
    """One context per process and kind: making one reads the system's CA
    certificates (milliseconds), which thousands of buyers' sockets would
    otherwise do each."""
    context = ssl_module.create_default_context()
    if not checks:
        context.check_hostname = False
        context.verify_mode = ssl_module.CERT_NONE
    return context


async def open_socket(url: str | URL, on_message: OnMessage, *,
                      on_close: OnClose | None = None, protocol: str | None = None,
                      headers: Mapping[str, str] | None = None,
                      ssl: ssl_module.SSLContext | bool | None = None,
                      within: float = 30.0, max_message: int = MAX_MESSAGE) -> WireSocket:
    """Connect and upgrade within ``within`` seconds (else ``TimeoutError``).
    A refused upgrade raises ``HandshakeRefused``; a failed connection, OSError."""
    url = URL(url)
    if url.scheme in ("http", "https"):
        url = url.with_scheme("ws" if url.scheme == "http" else "wss")
    host, port = url.host, url.port
    if url.scheme not in ("ws", "wss") or not host or port is None:
        raise ValueError(f"not a ws:// or wss:// address: {url}")
    loop = asyncio.get_running_loop()
    key = base64.b64encode(os.urandom(16)).decode()
    request = upgrade_request(url, key, protocol, headers)
    context = tls_context(url, ssl)
    sock: WireSocket | None = None

    def made() -> WireSocket:
        nonlocal sock
        sock = WireSocket(url, request, key, on_message, on_close, max_message=max_message)
        return sock

    async def dial() -> None:
        await loop.create_connection(made, host, port, ssl=context,
                                     server_hostname=host if context else None)
        assert sock is not None
        await sock._ready

    try:
        await asyncio.wait_for(dial(), within)
    except BaseException:
        if sock is not None:
            sock.close()
        raise
    assert sock is not None
    return sock


async def connect(host: str, port: int, on_message: OnMessage, *, path: str = "/ws",
                  token: str | None = None, protocol: str | None = "seats.v1.json",
                  within: float = 30.0) -> WireSocket:
    """A plain ws:// socket to ``host:port`` with a bearer token (the benchmarks')."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return await open_socket(URL.build(scheme="ws", host=host, port=port, path=path),
                             on_message, protocol=protocol, headers=headers, within=within)
