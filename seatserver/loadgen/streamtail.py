"""Reads each showtime's event stream from Redis while the run goes on.

The stream is the order in which every seat changed (each hold script
appends its change atomically), so the audit replays it to prove that no
seat was granted to two holders. The server trims a stream to its last
entries (10,000 by default), so the tail reads as the run goes rather than
at the end; the start state comes from Redis itself, read in one MULTI with
the stream's last entry id, so nothing falls between the two.

The tail is stopped by asking, never by cancelling a task in the middle of
a Redis call (redis-py turns such a cancellation into a connection error,
which a reader that retries on errors would then swallow).

A gap is noticed, not guessed: if the oldest entry still in the stream is
newer than the last one read, entries were trimmed before they were read,
and the audit says the stream check could not be proven.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from seatserver import redis_keys
from seatserver.changefeed.events import Event, Position, parse_offset

log = logging.getLogger(__name__)

BATCH = 2000
POLL_S = 0.02


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
    def __init__(self, redis: Redis, showtimes: Sequence[int]) -> None:
        self._redis = redis
        self._showtimes = list(showtimes)
        self.tails: dict[int, Tail] = {}
        self.errors = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        for showtime in self._showtimes:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.xrevrange(redis_keys.events(showtime), count=1)
                pipe.zrange(redis_keys.expiries(showtime), 0, -1)
                pipe.smembers(redis_keys.booked(showtime))
                last_entry, held, booked = await pipe.execute()
            offset = _text(last_entry[0][0]) if last_entry else "0-0"
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
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xrange(key, count=1)
            pipe.xrange(key, min=f"({tail.last}" if tail.last != "0-0" else "-", count=BATCH)
            oldest, entries = await pipe.execute()
        if oldest and tail.last != "0-0":
            first = parse_offset(_text(oldest[0][0]))
            if first is not None and first > tail.position:
                tail.gaps.append(f"entries after {tail.last} were trimmed before they were "
                                 f"read (the oldest left is {_text(oldest[0][0])})")
        for entry_id, fields in entries:
            event = Event.from_entry(entry_id, fields)
            tail.events.append(event)
            tail.last, tail.position = event.offset, event.position
        return len(entries)
