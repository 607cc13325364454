"""Small helpers the tests share."""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestServer

from seatserver.app import create_app
from seatserver.settings import Settings


def our_warnings(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    """The server's warnings and errors, less the stall watch's reports of a
    loop that waited for a core ("crowded"): those are the machine's load (a
    full run with four test processes logged them in tests that ask for none)."""
    return [r for r in records if r.name.startswith("seatserver")
            and r.levelno >= logging.WARNING
            and not (r.name == "seatserver.loop_lag" and "(crowded)" in r.getMessage())]


async def eventually(check: Callable[[], bool | Awaitable[bool]], within: float = 5.0,
                     interval: float = 0.01) -> float:
    """Wait until ``check()`` holds; returns the seconds it took. Fails after ``within``.

    ``check`` may be a coroutine function (e.g. one that asks a server)."""
    start = time.monotonic()
    while not await _holds(check):
        if time.monotonic() - start > within:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(interval)
    return time.monotonic() - start


async def bound_server(settings: Settings, **overrides: Any) -> TestServer:
    """A started test server whose public URL (SEATSERVER_PUBLIC_URL: where the
    payment provider sends buyers back and posts webhooks) is its own address.

    The socket is bound before the app is made, so the app knows its port
    without a window in which another process could take it.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    overrides.setdefault("public_url", f"http://127.0.0.1:{port}")
    server = TestServer(create_app(settings.replace(**overrides)),
                        host="127.0.0.1", port=port,
                        socket_factory=lambda host, port, family: sock)
    await server.start_server()
    return server


async def bound_servers(settings: Settings
                        ) -> AsyncIterator[Callable[..., Awaitable[TestServer]]]:
    """The body of a ``make_server`` fixture: makes bound servers, closes them after."""
    servers: list[TestServer] = []

    async def make(**overrides: Any) -> TestServer:
        servers.append(await bound_server(settings, **overrides))
        return servers[-1]

    yield make
    while servers:
        await servers.pop().close()


async def _holds(check: Callable[[], bool | Awaitable[bool]]) -> bool:
    result = check()
    return bool(await result) if inspect.isawaitable(result) else bool(result)


async def raw_websocket(host: str, port: int, token: str, protocol: str = "seats.v1.json"
                        ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A bare socket upgraded to WebSocket that does nothing unless told to:
    no reading, no pong. For tests of clients that misbehave."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {protocol}\r\n"
        f"Authorization: Bearer {token}\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n")[0]:
        raise AssertionError(f"upgrade refused: {head!r}")
    return reader, writer


def client_frame(payload: bytes) -> bytes:
    """A masked text frame (all-zero mask) as a client must send it."""
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + b"\x00\x00\x00\x00" + payload


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    data = b""
    try:
        while chunk := await reader.read(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


class CuttingProxy:
    """A TCP proxy in front of a server that can cut every connection through
    it at once, as a network failure or a dying balancer would (the sockets
    are aborted: no close frame, no FIN to wait for)."""

    def __init__(self, port: int) -> None:
        self._target = port
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> CuttingProxy:
        self._server = await asyncio.start_server(self._link, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)
        except OSError:
            writer.transport.abort()
            return
        self._links |= {writer, up_writer}
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self._links -= {writer, up_writer}
            for end in (writer, up_writer):
                end.transport.abort()

    @property
    def connections(self) -> int:
        return len(self._links) // 2

    def cut(self) -> int:
        """Abort every connection through the proxy; returns how many there were."""
        count = self.connections
        for writer in list(self._links):
            writer.transport.abort()
        return count

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.transport.abort()
