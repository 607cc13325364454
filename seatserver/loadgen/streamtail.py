"""Reads each showtime's event stream from Redis while the run goes on.

The stream is the order in which every seat changed (each hold script
appends its change atomically), so the audit replays it to prove that no
seat was granted to two holders. The server trims a stream to its last
entries (10,000 by default), so the tail reads as the run goes rather than
at the end; the start state comes from Redis itself, read by one script with
the stream's last entry id, so nothing falls between the two.

The tail is stopped by asking, never by cancelling a task in the middle of
a Redis call (redis-py turns such a cancellation into a connection error,
which a reader that retries on errors would then swallow).

A gap is noticed, not guessed: if the oldest entry in the stream, looked at
right after a read, is newer than the last entry read before it, entries may
have been trimmed unread (only possible when the tail is a whole stream's
length behind), and the audit says the stream check could not be proven.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError

from seatserver import redis_keys
from seatserver.changefeed.events import Event, Position, parse_offset
from seatserver.redis_client import RedisClient

log = logging.getLogger(__name__)

BATCH = 2000
POLL_S = 0.02

# One showtime's state and its stream's last id, read atomically (a script
# runs alone, also on a Redis Cluster, where the three keys share a slot).
START = """
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local id = '0-0'
if #last > 0 then id = last[1][1] end
return {id, redis.call('ZRANGE', KEYS[2], 0, -1), redis.call('SMEMBERS', KEYS[3])}
"""


@dataclass
class Initial:
    """A showtime's state when the tail started, at ``offset``."""

    offset: str
    held: set[str]
    booked: set[str]


@dataclass
class Tail:
    initial: Initial
    last: str
    position: Position
    events: list[Event] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class StreamTail:
    def __init__(self, redis: RedisClient, showtimes: Sequence[int]) -> None:
        self._redis = redis
        self._showtimes = list(showtimes)
        self.tails: dict[int, Tail] = {}
        self.errors = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        for showtime in self._showtimes:
            keys = (redis_keys.events(showtime), redis_keys.expiries(showtime),
                    redis_keys.booked(showtime))
            offset, held, booked = await self._redis.eval(START, 3, *keys)
            offset = _text(offset)
            position = parse_offset(offset) or (0, 0)
            self.tails[showtime] = Tail(Initial(offset, {_text(s) for s in held},
                                                {_text(s) for s in booked}),
                                        offset, position)
        self._tasks = [asyncio.create_task(self._follow(s)) for s in self._showtimes]

    async def stop(self) -> None:
        """Read what is left, then stop."""
        self._stopping.set()
        await asyncio.gather(*self._tasks)
        for showtime in self._showtimes:
            while await self._read(showtime) == BATCH:
                pass

    async def _follow(self, showtime: int) -> None:
        backoff = POLL_S
        while not self._stopping.is_set():
            try:
                read = await self._read(showtime)
                backoff = POLL_S
            except RedisError as exc:
                self.errors += 1
                log.warning("reading the event stream of showtime %s: %s", showtime, exc)
                backoff = min(1.0, backoff * 2)
                read = 0
            if read < BATCH:
                try:
                    await asyncio.wait_for(self._stopping.wait(), backoff)
                except TimeoutError:
                    pass

    async def _read(self, showtime: int) -> int:
        tail = self.tails[showtime]
        key = redis_keys.events(showtime)
        last, before = tail.last, tail.position
        entries = await self._redis.xrange(
            key, min=f"({last}" if last != "0-0" else "-", count=BATCH) or []
        for entry_id, fields in entries:
            event = Event.from_entry(entry_id, fields or {})
            tail.events.append(event)
            tail.last, tail.position = event.offset, event.position
        if before != (0, 0):
            # The oldest entry only moves forward: if it is still at or before
            # the last one read, nothing after that was trimmed unread.
            oldest = await self._redis.xrange(key, count=1)
            first = parse_offset(_text(oldest[0][0])) if oldest else None
            if first is None or first > before:
                tail.gaps.append(
                    f"entries after {last} may have been trimmed before they were read "
                    f"(the oldest left is {_text(oldest[0][0]) if oldest else 'none'})")
        return len(entries)
