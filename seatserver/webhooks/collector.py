"""EventCollector: the one writer of webhook events, in order per showtime.

Seat events come from the showtimes' Redis streams; booking events are staged
in PostgreSQL by triggers in the transaction of the change
(``webhook_staged``, migrations/0015). A round, per showtime:

1. notes the staged booking events committed so far;
2. reads the stream after the showtime's cursor (``webhook_stream_cursors``:
   the last entry already written as events), to its end;
3. in one transaction moves the cursor by compare-and-set from the value it
   read to the last entry, writes the stream's events (``webhook_enqueue``,
   in stream order), then takes the noted staged events (``DELETE …
   RETURNING``) and writes them after.

So every stream entry appended before a booking event was committed is
ordered before it (a seat is held before it is paid for), an entry or a
staged event becomes an event exactly once (another collector's
compare-and-set or delete makes this one roll back), and a restart resumes
where the cursor is. One instance collects at a time (a Redis lease), which
only saves the others the work; correctness does not rest on it.

A showtime's stream is followed when an enabled endpoint asks for seat events
of it (or of every showtime whose start is less than ``FOLLOW_AFTER_START``
ago). A new cursor starts where the stream was when the first endpoint that
follows the showtime was registered (``CLOCK_SLACK_MS`` earlier): what
happened before is not sent, what happened after is, even if no collector ran
then. Entries trimmed from the stream before the collector read them are lost
to webhooks; ``gaps`` counts the rounds that found a stream trimmed past its
cursor.
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
    SELECT st.id, min(e.created_at) AS since, c.last_offset FROM showtimes st
    JOIN webhook_endpoints e
      ON e.enabled AND e.event_types && $1::text[]
     AND (e.showtime_id = st.id
          OR (e.showtime_id IS NULL AND st.starts_at > now() - $2::interval))
    LEFT JOIN webhook_stream_cursors c ON c.showtime_id = st.id
    GROUP BY st.id, c.last_offset ORDER BY st.id"""
# The clocks of Redis (stream ids) and PostgreSQL (created_at) may differ a
# little: a new cursor starts this much before its endpoint was made.
CLOCK_SLACK_MS = 1000


class _TakenElsewhere(Exception):
    """Another collector wrote these first: this round's transaction rolls back."""


class EventCollector(BackgroundService):
    def __init__(self, pool: asyncpg.Pool, redis: RedisClient, *, poll_s: float) -> None:
        self._pool = pool
        self._redis = redis
        self._me = secrets.token_hex(8)
        self.collected = 0
        self.gaps = 0
        super().__init__(BackgroundTask.every("collecting seat events for webhooks", poll_s,
                                              self.collect))

    async def collect(self) -> int:
        """One round over every showtime with something to collect; the events
        written. Its cost at rest: two queries and one Redis round trip
        (pipelined reads), however many showtimes are followed."""
        if not await self._lease():
            return 0
        async with self._pool.acquire() as conn:
            cursors: dict[int, str] = {}
            for row in await conn.fetch(_FOLLOWED, list(SEAT_EVENTS), FOLLOW_AFTER_START):
                cursors[row["id"]] = row["last_offset"] or await self._start(
                    conn, row["id"], row["since"])
            # Step 1, for every showtime at once, before any stream is read.
            staged: dict[int, list[int]] = {}
            for row in await conn.fetch("SELECT id, showtime_id FROM webhook_staged "
                                        "ORDER BY id"):
                staged.setdefault(row["showtime_id"], []).append(row["id"])
        reads = await self._read_all(cursors)
        written = 0
        for showtime in sorted(reads.keys() | staged.keys()):
            events, whole = reads.get(showtime, ([], True))
            # Not all of the stream read: its rest first, it may be older than them.
            noted = staged.get(showtime, []) if whole else []
            if events or noted:
                written += await self._collect(showtime, cursors.get(showtime), events,
                                               noted)
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

    async def _collect(self, showtime: int, cursor: str | None, events: list[Event],
                       staged: list[int]) -> int:
        """Step 3 for one showtime; 0 if another collector was first."""
        if events:
            await self._check_gap(redis_keys.events(showtime), showtime, cursor or "0-0")
        async with self._pool.acquire() as conn:
            try:
                async with conn.transaction():
                    return await self._write(conn, showtime, cursor, events, staged)
            except _TakenElsewhere:
                return 0

    async def _read_all(self, cursors: dict[int, str]) -> dict[int, tuple[list[Event], bool]]:
        """Step 2: each stream's entries after its cursor (up to ``BATCH``), and
        whether that is all of them; one pipelined round trip."""
        if not cursors:
            return {}
        showtimes = sorted(cursors)
        async with self._redis.pipeline(transaction=False) as pipe:
            for showtime in showtimes:
                pipe.xrange(redis_keys.events(showtime), min=f"({cursors[showtime]}",
                            count=BATCH)
            replies: Any = await pipe.execute()
        return {showtime: ([Event.from_entry(i, f) for i, f in entries],
                           len(entries) < BATCH)
                for showtime, entries in zip(showtimes, replies, strict=True) if entries}

    async def _write(self, conn: asyncpg.Connection, showtime: int, cursor: str | None,
                     events: list[Event], staged: list[int]) -> int:
        rows = []
        if events:
            moved = await conn.execute(
                """UPDATE webhook_stream_cursors SET last_offset = $3, updated_at = now()
                   WHERE showtime_id = $1 AND last_offset = $2""",
                showtime, cursor, events[-1].offset)
            if moved == "UPDATE 0":
                raise _TakenElsewhere
            for event in events:
                made = seat_event(showtime, event)
                if made is not None:
                    kind, data, when = made
                    rows.append((kind, showtime, orjson.dumps(data).decode(), when))
        if staged:
            taken = await conn.fetch(
                """DELETE FROM webhook_staged WHERE id = ANY($1::bigint[])
                   RETURNING id, event_type, data::text AS data, at""", staged)
            if len(taken) != len(staged):
                raise _TakenElsewhere
            rows += [(r["event_type"], showtime, r["data"], r["at"])
                     for r in sorted(taken, key=lambda r: r["id"])]
        if rows:
            await conn.executemany("SELECT webhook_enqueue($1, $2, $3::jsonb, $4)", rows)
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
        """Counts a stream trimmed past the cursor: entries there are lost to webhooks.

        Redis 7 names the newest entry it removed (``max-deleted-entry-id``);
        Redis 6.2 does not, and there a gap goes unnoticed."""
        info: Any = await self._redis.xinfo_stream(key)
        deleted = info.get("max-deleted-entry-id")
        if deleted is None:
            return
        text = deleted.decode() if isinstance(deleted, bytes) else str(deleted)
        gone, at = parse_offset(text), parse_offset(cursor)
        if gone is not None and at is not None and gone > at:
            self.gaps += 1
            log.warning("webhooks: showtime %d's stream was trimmed past the collector's "
                        "cursor %s (up to %s); seat events there are lost to webhooks",
                        showtime, cursor, text)
