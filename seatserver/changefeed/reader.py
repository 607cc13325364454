"""ChangeFeed: blocking reads of the streams of an instance's open rooms.

A reader blocks on XREAD over its streams plus a wake stream of its own, so
that a newly followed stream is read at once. The entries of one read are
handed to the sink as one batch per stream, which is what lets rooms
coalesce: at rest each change goes out alone; a stream whose read found
entries is left out of the reads for the window the sink gives it
(``FeedSink.window``: the room's share of the process's fan-out budget), so
under load each read of it carries everything that arrived meanwhile.

On a single Redis one reader serves every followed stream. On a Redis Cluster
one XREAD may only name keys of one hash slot (CROSSSLOT otherwise, even for
two slots of the same node), and every showtime has a slot of its own, so
there is one reader per followed slot, blocked on its master, with a wake
stream in that slot. Readers come and go with the rooms; where a slot is
served is redis-py's slot map, refreshed after a connection error, so a
reader follows its slot through a failover or a resharding by itself.

On a Redis error a reader backs off (capped) and resumes from each stream's
last delivered position. If that position is gone from the stream afterwards
(Redis lost its data, or trimmed past it, or a failover lost the last
writes), or the stream's epoch changed, entries may have been missed, so the
sink is told to resynchronise that stream from a snapshot.

A reader need not see an error to be on another Redis: a connection that
died while the reader was between reads (delivering a batch, or pausing for
the busy-read floor) is replaced by the pool without a word, and the next
XREAD goes to whatever answers now, a Redis restarted empty or a promoted
replica, from a position that means nothing there. So every entry carries
the epoch of its stream (holds/lua/_prelude.lua), and a batch of another
epoch than the one the sink holds is never delivered: the sink
resynchronises instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol, Self

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from seatserver import redis_keys
from seatserver.background import BackgroundTask
from seatserver.changefeed.events import Event
from seatserver.latency import Histogram
from seatserver.redis_client import REDIS_DOWN

log = logging.getLogger(__name__)

READ_COUNT = 1000
BLOCK_MS = 5000
BACKOFF_START_S, BACKOFF_MAX_S = 0.05, 2.0

# The group of a single Redis' one reader; on a cluster a group is a hash slot.
ALL = -1


class FeedSink(Protocol):
    """Where the change feed hands what it reads (the room registry).

    Called from the feed's reader tasks, one call at a time per reader, in
    stream order per showtime. ``deliver`` gets the entries right after the
    showtime's last delivered position, none of another epoch than the one
    the sink last gave ``ChangeFeed.advance``; the feed has moved its position
    past them before the call, so a joiner compares against the batch's end,
    and a batch whose delivery raises is not delivered again (the error is
    logged and the reader backs off). ``resync`` says the position is lost
    (trimmed, another epoch, a Redis that lost its data): the sink rebuilds
    the showtime from a snapshot and calls ``ChangeFeed.advance`` with its
    offset and epoch; until it does, the feed asks again. Neither may wait on
    a client: every room of the reader waits behind them.
    """

    async def deliver(self, showtime: int, events: list[Event]) -> None:
        """Apply and fan out one batch of entries (at least one) of ``showtime``."""
        ...

    async def resync(self, showtime: int) -> None:
        """Rebuild ``showtime`` from a snapshot: its entries since the last
        delivered position can no longer be read."""
        ...

    def window(self, showtime: int) -> float:
        """Seconds from a read that found entries of ``showtime`` to the next
        read of its stream (what arrives meanwhile goes out as one update)."""
        ...


class ChangeFeed:
    def __init__(self, redis: Redis | RedisCluster, *,
                 on_health: Callable[[bool], None] | None = None) -> None:
        self._redis = redis
        self._instance = secrets.token_hex(6)
        self._positions: dict[int, str] = {}  # showtime -> last delivered offset
        self._epochs: dict[int, str] = {}  # showtime -> the epoch of that offset
        self._sink: FeedSink | None = None
        self._cluster = isinstance(redis, RedisCluster)
        self._readers: dict[int, StreamReader] = {}  # group -> its reader
        self._retiring: set[asyncio.Task[None]] = set()
        self._started = False
        self._on_health = on_health or (lambda healthy: None)
        self.healthy = True
        self.errors = 0  # reads that failed, by any reader
        # Seconds from an entry's id (Redis' clock when it was added) to its read.
        self.lag = Histogram()
        if not self._cluster:
            self._readers[ALL] = StreamReader(self, self._positions, self._epochs,
                                              redis_keys.wake(self._instance))

    def bind(self, sink: FeedSink) -> None:
        self._sink = sink

    @property
    def sink(self) -> FeedSink:
        assert self._sink is not None, "bind a sink before starting the feed"
        return self._sink

    @property
    def redis(self) -> Redis | RedisCluster:
        return self._redis

    @property
    def readers(self) -> int:
        """Readers running (one, or on a cluster one per followed hash slot)."""
        return sum(1 for r in self._readers.values() if r.running)

    async def __aenter__(self) -> Self:
        """Start the readers (and any that following a stream adds later)."""
        self._started = True
        for reader in self._readers.values():
            reader.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        self._started = False
        readers, self._readers = list(self._readers.values()), {}
        for reader in readers:
            await reader.stop()
        await asyncio.gather(*self._retiring, return_exceptions=True)

    def follow(self, showtime: int, offset: str, epoch: str) -> None:
        """Read ``showtime``'s stream from after ``offset`` (of ``epoch``) on."""
        self._positions[showtime] = offset
        self._epochs[showtime] = epoch
        group = self._group(showtime)
        reader = self._readers.get(group)
        if reader is None:
            wake_key = redis_keys.slot_wake(showtime, self._instance)
            reader = self._readers[group] = StreamReader(self, self._positions, self._epochs,
                                                         wake_key)
            reader.showtimes.add(showtime)
            if self._started:
                reader.start()
            return
        reader.showtimes.add(showtime)
        reader.wake()

    def unfollow(self, showtime: int) -> None:
        self._positions.pop(showtime, None)
        self._epochs.pop(showtime, None)
        group = self._group(showtime)
        reader = self._readers.get(group)
        if reader is None:
            return
        reader.showtimes.discard(showtime)
        reader.due.pop(showtime, None)
        if self._cluster and not reader.showtimes:
            del self._readers[group]
            task = asyncio.ensure_future(reader.stop())
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
            self.reader_health_changed()

    def position(self, showtime: int) -> str | None:
        return self._positions.get(showtime)

    def epoch(self, showtime: int) -> str | None:
        return self._epochs.get(showtime)

    def advance(self, showtime: int, offset: str, epoch: str) -> None:
        if showtime in self._positions:
            self._positions[showtime] = offset
            self._epochs[showtime] = epoch

    def _group(self, showtime: int) -> int:
        if not self._cluster:
            return ALL
        return key_slot(redis_keys.events(showtime).encode())

    def reader_health_changed(self) -> None:
        healthy = all(r.healthy for r in self._readers.values())
        if healthy != self.healthy:
            self.healthy = healthy
            self._on_health(healthy)

    async def entries_after(self, showtime: int, offset: str, count: int = READ_COUNT
                            ) -> list[Event]:
        """Entries after ``offset``, oldest first (XRANGE with an exclusive start)."""
        raw: Any = await self._redis.xrange(redis_keys.events(showtime), f"({offset}", "+",
                                            count)
        return [Event.from_entry(i, f) for i, f in raw]

    async def has_entry(self, showtime: int, offset: str) -> bool:
        raw = await self._redis.xrange(redis_keys.events(showtime), offset, offset, 1)
        return bool(raw)

    async def stored_epoch(self, showtime: int) -> str | None:
        """The epoch key as stored (None when Redis has none: it lost the stream)."""
        raw: Any = await self._redis.get(redis_keys.epoch(showtime))
        return None if raw is None else _text(raw)

    async def xread(self, streams: dict[Any, Any], block_ms: int = BLOCK_MS) -> Any:
        """One blocking XREAD (``block_ms`` at least 1: 0 would block for ever);
        on a cluster, sent to the master of the streams' slot."""
        redis = self._redis
        if not isinstance(redis, RedisCluster):
            return await redis.xread(streams, count=READ_COUNT, block=block_ms)
        # Routed here rather than by redis-py, which would first ask a node
        # for XREAD's keys (COMMAND GETKEYS) on every read. initialize() is a
        # no-op unless an error marked the slot map stale.
        await redis.initialize()
        node = redis.get_node_from_key(next(iter(streams)))
        return await redis.execute_command(
            "XREAD", "COUNT", READ_COUNT, "BLOCK", block_ms, "STREAMS", *streams,
            *streams.values(), target_nodes=node)


class StreamReader:
    """One blocking read loop over a group of the feed's streams and a wake stream."""

    def __init__(self, feed: ChangeFeed, positions: dict[int, str], epochs: dict[int, str],
                 wake_key: str) -> None:
        self._feed = feed
        self._positions = positions  # the feed's, shared by its readers
        self._epochs = epochs
        self.wake_key = wake_key
        self.showtimes: set[int] = set()
        # Showtime -> when its stream is read again (monotonic s; absent: now).
        self.due: dict[int, float] = {}
        # Set by wake(): ends a wait for the next stream due (a new stream is read at once).
        self._nudged = asyncio.Event()
        self._loop = BackgroundTask("changefeed", self._run)
        self._woken = False
        self.healthy = True

    @property
    def running(self) -> bool:
        return self._loop.running

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        if self._woken:
            try:
                await self._feed.redis.delete(self.wake_key)
            except REDIS_DOWN:
                pass

    def wake(self) -> None:
        self._nudged.set()
        if not self._loop.running:
            return
        self._woken = True
        waker = asyncio.ensure_future(self._send_wake())
        waker.add_done_callback(lambda f: f.exception() if not f.cancelled() else None)

    async def _send_wake(self) -> None:
        try:
            await self._feed.redis.xadd(self.wake_key, {"w": "1"}, maxlen=1,
                                        approximate=False)
        except REDIS_DOWN:
            pass  # the reader is reconnecting and will pick up the stream anyway

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
                self._feed.errors += 1
                self._set_health(False)
                log.warning("change feed lost Redis (%s); retrying in %.2fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                verify = True
            except Exception:
                self._feed.errors += 1
                log.exception("change feed read failed; retrying")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)

    def _set_health(self, healthy: bool) -> None:
        if healthy != self.healthy:
            self.healthy = healthy
            self._feed.reader_health_changed()

    async def _read_once(self) -> None:
        feed = self._feed
        positions = self._positions
        asked: dict[int, str] = {}
        streams: dict[Any, Any] = {self.wake_key: "$"}
        began = time.monotonic()
        next_due = None
        for showtime in self.showtimes:
            due = self.due.get(showtime, 0.0)
            if due <= began:
                asked[showtime] = streams[redis_keys.events(showtime)] = positions[showtime]
            elif next_due is None or due < next_due:
                next_due = due
        if not asked and next_due is not None:
            # Every stream is in its window: wait here, not in a blocking read,
            # whose timeout is Redis' clock (a frozen or stepped clock would
            # hold it); a newly followed stream ends the wait (wake).
            self._nudged.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._nudged.wait(), next_due - began)
            return
        # Block no longer than until the next stream left out is due again.
        block_ms = BLOCK_MS if next_due is None else max(1, math.ceil((next_due - began) * 1000))
        reply: Any = await feed.xread(streams, min(block_ms, BLOCK_MS))
        read_at = time.monotonic()
        sink = feed.sink
        for key, entries in reply or ():
            followed = redis_keys.showtime_of_events(key)
            if followed is None or positions.get(followed) != asked.get(followed):
                # The wake stream; or a room closed, reopened or resynchronised
                # while we read: it starts from its new position next read.
                continue
            events = [Event.from_entry(i, f) for i, f in entries]
            epoch = self._epochs.get(followed)
            if any(e.epoch and e.epoch != epoch for e in events):
                # Not the stream the room was built from: the position is
                # meaningless here, whatever the ids say.
                log.info("showtime %s: stream epoch changed from %s to %s, resynchronising",
                         followed, epoch, events[-1].epoch)
                await sink.resync(followed)
                continue
            feed.lag.observe(max(0.0, time.time() - events[0].position[0] / 1000))
            positions[followed] = events[-1].offset
            try:
                await sink.deliver(followed, events)
            finally:
                # Let the next changes gather for the room's window.
                self.due[followed] = read_at + sink.window(followed)

    async def _verify_positions(self) -> None:
        """After an outage, resynchronise every stream whose position vanished."""
        feed = self._feed
        for showtime in list(self.showtimes):
            offset = feed.position(showtime)
            if offset is None:
                continue
            stored = await feed.stored_epoch(showtime)
            if (offset == "0-0" or stored != feed.epoch(showtime)
                    or not await feed.has_entry(showtime, offset)):
                log.info("showtime %s: stream position %s (epoch %s) lost, resynchronising",
                         showtime, offset, feed.epoch(showtime))
                await feed.sink.resync(showtime)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
