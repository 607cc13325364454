"""Small helpers the tests share."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable


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
