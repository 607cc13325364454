"""ChangeFeed: one task per instance reading the streams of its open rooms.

It blocks on XREAD over every stream it follows plus this instance's wake
stream, so a newly followed stream is read at once. The entries of one read
are handed to the sink as one batch per stream, which is what lets rooms
coalesce: at rest each change goes out alone, under load reads grow (and
start at most every BUSY_READ_INTERVAL_S, so that they do grow).

On a Redis error it backs off (capped) and resumes from each stream's last
delivered position. If that position is gone from the stream afterwards
(Redis lost its data, or trimmed past it), entries may have been missed, so
the sink is told to resynchronise that stream from a snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any, Protocol

from redis.asyncio import Redis

from seatserver import redis_keys
from seatserver.background import BackgroundTask
from seatserver.changefeed.events import Event
from seatserver.holds.engine import REDIS_DOWN
from seatserver.latency import Histogram

log = logging.getLogger(__name__)

READ_COUNT = 1000
BLOCK_MS = 5000
# Under load, reads start at most this often. Every read makes one update per
# room, each written to every subscriber, so without a floor a busy room of 100
# got 300-500 updates/s and hold acks queued behind the fan-outs (p99 15 ms at
# 1,000 holds/s; 4 ms with this floor, see docs/performance.md). At rest the
# feed is blocked in XREAD and a lone change still goes out at once.
BUSY_READ_INTERVAL_S = 0.02
BACKOFF_START_S, BACKOFF_MAX_S = 0.05, 2.0


class FeedSink(Protocol):
    async def deliver(self, showtime: int, events: list[Event]) -> None: ...

    async def resync(self, showtime: int) -> None: ...


class ChangeFeed:
    def __init__(self, redis: Redis, *, on_health: Callable[[bool], None] | None = None) -> None:
        self._redis = redis
        self._instance = secrets.token_hex(6)
        self._wake_key = redis_keys.wake(self._instance)
        self._positions: dict[int, str] = {}  # showtime -> last delivered offset
        self._sink: FeedSink | None = None
        self._loop = BackgroundTask("changefeed", self._run)
        self._busy = False
        self._read_began = 0.0
        self._on_health = on_health or (lambda healthy: None)
        self.healthy = True
        self.errors = 0  # reads that failed
        # Seconds from an entry's id (Redis' clock when it was added) to its read.
        self.lag = Histogram()

    def bind(self, sink: FeedSink) -> None:
        self._sink = sink

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        try:
            await self._redis.delete(self._wake_key)
        except REDIS_DOWN:
            pass

    def follow(self, showtime: int, offset: str) -> None:
        """Read ``showtime``'s stream from after ``offset`` on."""
        self._positions[showtime] = offset
        self._wake()

    def unfollow(self, showtime: int) -> None:
        self._positions.pop(showtime, None)

    def position(self, showtime: int) -> str | None:
        return self._positions.get(showtime)

    def advance(self, showtime: int, offset: str) -> None:
        if showtime in self._positions:
            self._positions[showtime] = offset

    def _wake(self) -> None:
        if not self._loop.running:
            return
        waker = asyncio.ensure_future(self._send_wake())
        waker.add_done_callback(lambda f: f.exception() if not f.cancelled() else None)

    async def _send_wake(self) -> None:
        try:
            await self._redis.xadd(self._wake_key, {"w": "1"}, maxlen=1, approximate=False)
        except REDIS_DOWN:
            pass  # the reader is reconnecting and will pick up the stream anyway

    async def entries_after(self, showtime: int, offset: str, count: int = READ_COUNT
                            ) -> list[Event]:
        """Entries after ``offset``, oldest first (XRANGE with an exclusive start)."""
        raw: Any = await self._redis.xrange(redis_keys.events(showtime), f"({offset}", "+",
                                            count)
        return [Event.from_entry(i, f) for i, f in raw]

    async def has_entry(self, showtime: int, offset: str) -> bool:
        raw = await self._redis.xrange(redis_keys.events(showtime), offset, offset, 1)
        return bool(raw)

    async def _run(self) -> None:
        backoff = BACKOFF_START_S
        verify = False
        while True:
            try:
                if verify:
                    await self._verify_positions()
                    verify = False
                await self._read_once()
                backoff = BACKOFF_START_S
                self._set_health(True)
            except asyncio.CancelledError:
                raise
            except REDIS_DOWN as exc:
                self.errors += 1
                self._set_health(False)
                log.warning("change feed lost Redis (%s); retrying in %.2fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                verify = True
            except Exception:
                self.errors += 1
                log.exception("change feed read failed; retrying")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)

    def _set_health(self, healthy: bool) -> None:
        if healthy != self.healthy:
            self.healthy = healthy
            self._on_health(healthy)

    async def _read_once(self) -> None:
        if self._busy:
            # The last read found entries: let more gather before the next one.
            await asyncio.sleep(self._read_began + BUSY_READ_INTERVAL_S - time.monotonic())
        streams: dict[Any, Any] = {self._wake_key: "$"}
        for showtime, offset in self._positions.items():
            streams[redis_keys.events(showtime)] = offset
        self._read_began = time.monotonic()
        reply: Any = await self._redis.xread(streams, count=READ_COUNT, block=BLOCK_MS)
        assert self._sink is not None
        self._busy = False
        for key, entries in reply or ():
            followed = _showtime_of(key)
            if followed is None or followed not in self._positions:
                continue  # the wake stream, or a room closed while we read
            events = [Event.from_entry(i, f) for i, f in entries]
            self.lag.observe(max(0.0, time.time() - events[0].position[0] / 1000))
            self._positions[followed] = events[-1].offset
            self._busy = True
            await self._sink.deliver(followed, events)

    async def _verify_positions(self) -> None:
        """After an outage, resynchronise every stream whose position vanished."""
        assert self._sink is not None
        for showtime, offset in list(self._positions.items()):
            if offset == "0-0" or not await self.has_entry(showtime, offset):
                log.info("showtime %s: stream position %s lost, resynchronising",
                         showtime, offset)
                await self._sink.resync(showtime)


def _showtime_of(key: bytes | str) -> int | None:
    text = key.decode() if isinstance(key, bytes) else key
    prefix = "ev:{st:"
    if not text.startswith(prefix):
        return None
    try:
        return int(text[len(prefix):-1])
    except ValueError:
        return None


