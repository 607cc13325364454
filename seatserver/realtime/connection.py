"""Connection: one client socket's identity, codec, limits and send path.

Sends never await. A frame is written straight into the socket's transport,
whose write buffer is this connection's bounded queue and whose event-loop
writer drains it: the same thing a queue plus a writer task would do, without
a task switch per frame per subscriber (the fan-out's whole cost, see
docs/performance.md). aiohttp writes uncompressed frames the same synchronous
way, so our frames and its control frames (pong, close) never interleave
mid-frame. A client whose unsent bytes pass the bound is cut off with close
code 1013 ("try again later"): it reconnects and resumes with ``since``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from seatserver.protocol.codecs import Codec

log = logging.getLogger(__name__)

CLOSE_TOO_SLOW = 1013
CLOSE_POLICY = 1008
# Rejected messages in a row past which a flooding client is closed.
FLOOD_STRIKES = 50


@dataclass
class Stats:
    """What this instance's connections sent, and how many were cut off (or
    refused: a session past its socket cap), by cause."""

    too_slow: int = 0
    flooding: int = 0
    too_many_sockets: int = 0
    frames_out: int = 0
    bytes_out: int = 0


class Connection:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.BaseTransport,
        codec: Codec,
        holder: str,
        stats: Stats,
        *,
        read_only: bool = False,
        address: str = "",
        buffer_limit: int,
        rate_per_s: float,
        rate_burst: int,
    ) -> None:
        self.ws = ws
        self.codec = codec
        self.holder = holder
        # Kiosk boards watch; they never hold or release seats.
        self.read_only = read_only
        # The client's address as per-address limits count it (seats held
        # from one address); '' for none.
        self.address = address
        self._stats = stats
        self.showtimes: set[int] = set()
        # Showtime -> when the holder index last noted it (monotonic seconds).
        self.noted: dict[int, float] = {}
        self._transport: Any = transport
        self._limit = buffer_limit
        self._rate = rate_per_s
        self._burst = float(rate_burst)
        self._tokens = float(rate_burst)
        self._stamp = time.monotonic()
        self._strikes = 0
        self._closing = False
        self._closer: asyncio.Task[None] | None = None

    @property
    def closed(self) -> bool:
        return self._closing or self._transport.is_closing()

    def send(self, frame: dict[str, Any]) -> None:
        self.write(self.codec.frame(frame))

    def write(self, data: bytes) -> None:
        """Queue one complete WebSocket frame; cut the client off past the bound."""
        if self._closing:
            return
        transport = self._transport
        if transport.is_closing():
            self._closing = True
            return
        if transport.get_write_buffer_size() > self._limit:
            self._stats.too_slow += 1
            self.close(CLOSE_TOO_SLOW, "too slow: reconnect and resume with since")
            return
        transport.write(data)
        stats = self._stats
        stats.frames_out += 1
        stats.bytes_out += len(data)

    def allow(self) -> bool:
        """Token bucket: whether one more client message may be processed now."""
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            self._strikes = 0
            return True
        self._strikes += 1
        if self._strikes >= FLOOD_STRIKES:
            self._stats.flooding += 1
            self.close(CLOSE_POLICY, "message flood")
        return False

    def close(self, code: int, reason: str) -> None:
        """Close without awaiting; a peer that does not drain is aborted."""
        if self._closing:
            return
        self._closing = True
        log.info("closing connection of %s: %s %s", self.holder, code, reason)
        self._closer = asyncio.ensure_future(self._close(code, reason))

    async def finish(self) -> None:
        """Let a close we started complete, so its code reaches the client
        before the handler returns (aiohttp would otherwise close with 1000)."""
        if self._closer is not None:
            await asyncio.gather(self._closer, return_exceptions=True)

    async def _close(self, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(self.ws.close(code=code, message=reason.encode()), 2.0)
        except (TimeoutError, ConnectionError, RuntimeError):
            pass
        finally:
            # Graceful close done, or the peer never answered: either way, gone.
            self._transport.abort()
