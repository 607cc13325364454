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
A cursor starts at the stream's end when it is made: events from before an
endpoint asked are not sent. Entries trimmed from the stream before the
collector read them are lost to webhooks; ``gaps`` counts those rounds.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Any

import asyncpg
import orjson

from seatserver import redis_keys
from seatserver.background import BackgroundService, BackgroundTask
from seatserver.changefeed import Event, parse_offset
from seatserver.redis_client import RedisClient
from seatserver.webhooks.events import SEAT_EVENTS, seat_event

log = logging.getLogger(__name__)

FOLLOW_AFTER_START = dt.timedelta(hours=6)
BATCH = 500

_FOLLOWED = """
    SELECT st.id FROM showtimes st
    WHERE EXISTS (SELECT 1 FROM webhook_endpoints e
                  WHERE e.enabled AND e.event_types && $1::text[]
                    AND (e.showtime_id = st.id
                         OR (e.showtime_id IS NULL AND st.starts_at > now() - $2::interval)))
    ORDER BY st.id"""


class StreamCollector(BackgroundService):
    def __init__(self, pool: asyncpg.Pool, redis: RedisClient, *, poll_s: float) -> None:
        self._pool = pool
        self._redis = redis
        self._me = secrets.token_hex(8)
        self._lease_ms = max(5_000, int(poll_s * 10_000))
        self.collected = 0
        self.gaps = 0
        super().__init__(BackgroundTask.every("collecting seat events for webhooks", poll_s,
                                              self.collect))

    async def collect(self) -> int:
        """One round over every followed showtime; the events written."""
        if not await self._lease():
            return 0
        async with self._pool.acquire() as conn:
            showtimes = [r["id"] for r in await conn.fetch(
                _FOLLOWED, list(SEAT_EVENTS), FOLLOW_AFTER_START)]
        written = 0
        for showtime in showtimes:
            written += await self._collect(showtime)
        self.collected += written
        return written

    async def _lease(self) -> bool:
        key = redis_keys.webhook_collector_lease()
        if await self._redis.set(key, self._me, nx=True, px=self._lease_ms):
            return True
        holder: Any = await self._redis.get(key)
        if holder in (self._me, self._me.encode()):
            await self._redis.pexpire(key, self._lease_ms)
            return True
        return False

    async def _collect(self, showtime: int) -> int:
        key = redis_keys.events(showtime)
        async with self._pool.acquire() as conn:
            cursor = await conn.fetchval(
                "SELECT last_offset FROM webhook_stream_cursors WHERE showtime_id = $1",
                showtime)
            if cursor is None:
                await self._start(conn, showtime, key)
                return 0
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

    async def _start(self, conn: asyncpg.Connection, showtime: int, key: str) -> None:
        """A new cursor at the stream's current end."""
        last: Any = await self._redis.xrevrange(key, count=1)
        offset = last[0][0].decode() if last else "0-0"
        await conn.execute(
            """INSERT INTO webhook_stream_cursors (showtime_id, last_offset) VALUES ($1, $2)
               ON CONFLICT (showtime_id) DO NOTHING""", showtime, offset)

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
