"""The outbox: confirmation messages delivered after the sale that made them true.

A message is written to the ``outbox`` table in the transaction that confirms
the booking, so it exists exactly when the sale does. ``OutboxWorker`` (one
per instance) takes a due message with ``FOR UPDATE SKIP LOCKED`` and keeps
the row locked while the sink delivers it, then marks it sent in the same
transaction: however many instances run, two never send one message, and a
message another worker is sending is skipped, not waited for. A failure is
recorded and retried later with a capped exponential back-off; after
``max_attempts`` failures, or at once when the sink says it can never be sent
(``PermanentDeliveryError``: a mail server's 5xx refusal), the message is
parked as dead (``dead_at``, with its last error), logged, listed by
``OutboxStore.dead`` (``seatserver outbox dead``) and sent again only when someone requeues it.

A crash between the sink's delivery and the commit leaves the message unsent,
so it is sent again: delivery is at least once across crashes, which is why
every message carries a stable ``id`` for sinks to deduplicate on.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from seatserver.background import BackgroundService, BackgroundTask
from seatserver.outbox.messages import MessageComposer, MessageSink
from seatserver.outbox.smtp import PermanentDeliveryError

log = logging.getLogger(__name__)


@dataclass
class DeliveryCounts:
    """Deliveries by outcome since the process started (read by /metrics)."""

    sent: int = 0
    retried: int = 0  # temporary failures, tried again later
    dead: int = 0  # parked: refused for good, or out of attempts


counts = DeliveryCounts()


def backoff(attempts: int, base_s: float, cap_s: float) -> float:
    """Seconds before the next try after ``attempts`` failures: doubling, capped."""
    return float(min(cap_s, base_s * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message parked after ``attempts`` failed deliveries."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    last_error: str | None
    created_at: datetime
    dead_at: datetime


class OutboxStore:
    """What support sees of the outbox: dead messages, and putting them back."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def dead(self, limit: int = 100) -> list[DeadLetter]:
        """Dead messages, the most recently parked first."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT id, kind, payload, attempts, last_error, created_at, dead_at
                   FROM outbox WHERE dead_at IS NOT NULL AND sent_at IS NULL
                   ORDER BY dead_at DESC, id DESC LIMIT $1""", limit)
        return [DeadLetter(r["id"], r["kind"], json.loads(r["payload"]), r["attempts"],
                           r["last_error"], r["created_at"], r["dead_at"]) for r in rows]

    async def requeue(self, ids: list[int]) -> list[int]:
        """Put dead messages back in the queue, due now, with a fresh count of
        attempts; returns the ids that were dead (others are left alone)."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                """UPDATE outbox SET dead_at = NULL, attempts = 0, next_attempt_at = now()
                   WHERE id = any($1::bigint[]) AND dead_at IS NOT NULL AND sent_at IS NULL
                   RETURNING id""", ids)
        return sorted(r["id"] for r in rows)


class OutboxWorker(BackgroundService):
    def __init__(self, pool: asyncpg.Pool, composer: MessageComposer, sink: MessageSink, *,
                 poll_s: float, retry_base_s: float, retry_cap_s: float,
                 max_attempts: int, send_timeout_s: float = 30.0) -> None:
        self._pool = pool
        self._composer = composer
        self._sink = sink
        self._base = retry_base_s
        self._cap = retry_cap_s
        self._max_attempts = max_attempts
        self._timeout = send_timeout_s
        super().__init__(BackgroundTask.every("delivering outbox messages", poll_s,
                                              self.deliver_due))

    async def deliver_due(self, limit: int = 100) -> int:
        """Send due messages one by one until none is left (or ``limit``);
        returns how many were sent."""
        sent = 0
        for _ in range(limit):
            outcome = await self._deliver_one()
            if outcome is None:
                break
            sent += outcome
        return sent

    async def _deliver_one(self) -> bool | None:
        """One due message sent (True) or put off (False); None when none is due."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """SELECT id, kind, payload, attempts FROM outbox
                   WHERE sent_at IS NULL AND dead_at IS NULL AND next_attempt_at <= now()
                   ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED""")
            if row is None:
                return None
            try:
                message = await self._composer.compose(row["id"], row["kind"],
                                                       json.loads(row["payload"]))
                await asyncio.wait_for(self._sink.deliver(message), self._timeout)
            except Exception as exc:
                await self._put_off(conn, row["id"], row["attempts"] + 1, exc)
                return False
            # A one-time secret in the payload (a reset link's token) is not
            # kept once it has gone out.
            await conn.execute(
                "UPDATE outbox SET sent_at = now(), attempts = attempts + 1, "
                "last_error = NULL, payload = payload - 'secret' WHERE id = $1", row["id"])
            counts.sent += 1
            return True

    async def _put_off(self, conn: asyncpg.Connection, row_id: int, attempts: int,
                       exc: Exception) -> None:
        error = repr(exc)[:500]
        if isinstance(exc, PermanentDeliveryError):
            counts.dead += 1
            log.error("outbox message %d is dead, refused for good on attempt %d: %s "
                      "(`seatserver outbox retry %d` sends it again)", row_id, attempts,
                      exc, row_id)
            await conn.execute(
                """UPDATE outbox SET attempts = $2, last_error = $3, dead_at = now()
                   WHERE id = $1""", row_id, attempts, str(exc)[:500])
            return
        if attempts >= self._max_attempts:
            counts.dead += 1
            log.error("outbox message %d is dead after %d failed deliveries, last: %s "
                      "(`seatserver outbox dead` lists it, `seatserver outbox retry %d` "
                      "sends it again)", row_id, attempts, error, row_id)
            await conn.execute(
                """UPDATE outbox SET attempts = $2, last_error = $3, dead_at = now()
                   WHERE id = $1""", row_id, attempts, error)
            return
        delay = backoff(attempts, self._base, self._cap)
        counts.retried += 1
        log.warning("outbox message %d failed (attempt %d of %d), retrying in %.1fs: %s",
                    row_id, attempts, self._max_attempts, delay, error)
        await conn.execute(
            """UPDATE outbox SET attempts = $2, last_error = $3,
                      next_attempt_at = now() + $4::interval WHERE id = $1""",
            row_id, attempts, error, timedelta(seconds=delay))
