"""StreamCollector: seat events from the showtimes' Redis streams into PostgreSQL.

Each showtime some endpoint follows has a cursor (``webhook_stream_cursors``):
the last stream entry already turned into events. A round reads the entries
after it (``XRANGE``, exclusive) and, in one transaction, moves the cursor
from the value it read to the last entry and calls ``webhook_enqueue`` for
each entry, in stream order. The move is a compare-and-set: if another
instance moved the cursor first, nothing is written and the round ends. So an
entry becomes an event exactly once, in order, and a restart resumes where
the cursor is. One instance collects at a time (a Redis lease), which only
saves the others the reads.

A showtime is followed when an enabled endpoint asks for seat events of it
(or of every showtime whose start is less than ``FOLLOW_AFTER_START`` ago).
A new cursor starts where the stream was when the first endpoint that follows
the showtime was registered (``CLOCK_SLACK_MS`` earlier): what happened
before is not sent, what happened after is, even if no collector ran then. Entries trimmed from the stream before the
collector read them are lost to webhooks; ``gaps`` counts those rounds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import secrets
from typing import Any

import asyncpg
import orjson

from seatserver import redis_keys
from seatserver.background import OUTAGES, BackgroundService, BackgroundTask
from seatserver.changefeed import Event, parse_offset
from seatserver.redis_client import RedisClient
from seatserver.webhooks.events import SEAT_EVENTS, seat_event

log = logging.getLogger(__name__)

FOLLOW_AFTER_START = dt.timedelta(hours=6)
BATCH = 500
# The collector's lease: renewed every round, so a stopped or dead instance
# hands over within this (a round longer than the lease just lets another in).
LEASE_MS = 5_000

_FOLLOWED = """
    SELECT st.id, min(e.created_at) AS since FROM showtimes st
    JOIN webhook_endpoints e
      ON e.enabled AND e.event_types && $1::text[]
     AND (e.showtime_id = st.id
          OR (e.showtime_id IS NULL AND st.starts_at > now() - $2::interval))
    GROUP BY st.id ORDER BY st.id"""
# The clocks of Redis (stream ids) and PostgreSQL (created_at) may differ a
# little: a new cursor starts this much before its endpoint was made.
CLOCK_SLACK_MS = 1000


class StreamCollector(BackgroundService):
    def __init__(self, pool: asyncpg.Pool, redis: RedisClient, *, poll_s: float) -> None:
        self._pool = pool
        self._redis = redis
        self._me = secrets.token_hex(8)
        self.collected = 0
        self.gaps = 0
        super().__init__(BackgroundTask.every("collecting seat events for webhooks", poll_s,
                                              self.collect))

    async def collect(self) -> int:
        """One round over every followed showtime; the events written."""
        if not await self._lease():
            return 0
        async with self._pool.acquire() as conn:
            showtimes = await conn.fetch(_FOLLOWED, list(SEAT_EVENTS), FOLLOW_AFTER_START)
        written = 0
        for row in showtimes:
            written += await self._collect(row["id"], row["since"])
        self.collected += written
        return written

    async def _lease(self) -> bool:
        key = redis_keys.webhook_collector_lease()
        if await self._redis.set(key, self._me, nx=True, px=LEASE_MS):
            return True
        holder: Any = await self._redis.get(key)
        if holder in (self._me, self._me.encode()):
            await self._redis.pexpire(key, LEASE_MS)
            return True
        return False

    async def __aexit__(self, *exc: object) -> None:
        await super().__aexit__(None, None, None)
        # Hand over at once rather than after the lease: another instance goes on.
        key = redis_keys.webhook_collector_lease()
        with contextlib.suppress(*OUTAGES):
            if await self._redis.get(key) in (self._me, self._me.encode()):
                await self._redis.delete(key)

    async def _collect(self, showtime: int, since: dt.datetime) -> int:
        key = redis_keys.events(showtime)
        async with self._pool.acquire() as conn:
            cursor = await conn.fetchval(
                "SELECT last_offset FROM webhook_stream_cursors WHERE showtime_id = $1",
                showtime)
            if cursor is None:
                cursor = await self._start(conn, showtime, since)
            entries: Any = await self._redis.xrange(key, min=f"({cursor}", count=BATCH)
            if not entries:
                return 0
            events = [Event.from_entry(entry_id, fields) for entry_id, fields in entries]
            await self._check_gap(key, showtime, cursor)
            rows = []
            for event in events:
                made = seat_event(showtime, event)
                if made is not None:
                    kind, data, when = made
                    rows.append((kind, showtime, orjson.dumps(data).decode(), when))
            async with conn.transaction():
                moved = await conn.execute(
                    """UPDATE webhook_stream_cursors SET last_offset = $3, updated_at = now()
                       WHERE showtime_id = $1 AND last_offset = $2""",
                    showtime, cursor, events[-1].offset)
                if moved == "UPDATE 0":
                    return 0  # another collector took these entries
                if rows:
                    await conn.executemany(
                        "SELECT webhook_enqueue($1, $2, $3::jsonb, $4)", rows)
            return len(rows)

    async def _start(self, conn: asyncpg.Connection, showtime: int, since: dt.datetime
                     ) -> str:
        """A new cursor, just before the first endpoint that follows the
        showtime was registered (or the cursor another collector made first)."""
        ms = max(0, int(since.timestamp() * 1000) - CLOCK_SLACK_MS)
        await conn.execute(
            """INSERT INTO webhook_stream_cursors (showtime_id, last_offset) VALUES ($1, $2)
               ON CONFLICT (showtime_id) DO NOTHING""", showtime, f"{ms}-0")
        cursor: str = await conn.fetchval(
            "SELECT last_offset FROM webhook_stream_cursors WHERE showtime_id = $1", showtime)
        return cursor

    async def _check_gap(self, key: str, showtime: int, cursor: str) -> None:
        """Counts a stream trimmed past the cursor: entries there may be lost to webhooks."""
        first: Any = await self._redis.xrange(key, count=1)
        at = parse_offset(cursor)
        if first and at is not None and at != (0, 0):
            oldest = parse_offset(first[0][0].decode())
            if oldest is not None and oldest > at:
                self.gaps += 1
                log.warning("webhooks: showtime %d's stream was trimmed past the collector's "
                            "cursor %s; seat events before %s may be lost",
                            showtime, cursor, first[0][0].decode())
