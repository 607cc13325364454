"""WebhookSender: delivers pending webhook deliveries, in order per showtime.

Each (endpoint, showtime) pair is a queue ordered by delivery id (which is the
event's order, see migrations/0015). Only the head of a queue, its oldest
pending delivery, may be sent: a failing head blocks the later events of that
showtime for that endpoint until it succeeds or is given up after
``max_attempts`` (then it is ``dead`` and the next one goes). Other showtimes
and other endpoints go on meanwhile.

Every instance runs a sender. A head is claimed with a conditional UPDATE
(``claimed_until``, longer than a request may take), so one instance sends a
given delivery at a time, and no PostgreSQL connection is held while the
endpoint answers. A crash between the request and the record leaves the claim
to lapse and the delivery is sent again: at least once, with the same
``webhook-id`` for receivers to deduplicate on.

Sends run in tasks owned here, at most ``concurrency`` at once and
``PER_ENDPOINT`` per endpoint, each bounded by ``timeout_s``: a dead or
hanging endpoint costs a few idle sockets and nothing on the hold path.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import time
from dataclasses import dataclass

import aiohttp
import asyncpg
from standardwebhooks import Webhook

from seatserver.background import OUTAGES, BackgroundService, BackgroundTask
from seatserver.webhooks.targets import GuardedResolver, RefusedTarget, check_url

log = logging.getLogger(__name__)

PER_ENDPOINT = 2
# A claim outlasts a request's timeout by this: time to record the outcome.
# After a crash, a delivery in flight is sent again once its claim lapses.
CLAIM_MARGIN_S = 10.0
USER_AGENT = "seatserver-webhooks/1"

# The head of every queue, found by one probe of the pending index per queue
# (a loose index scan): a dead endpoint's backlog of a million rows costs a
# poll no more than its one head.
HEADS = """
    WITH RECURSIVE heads AS (
        (SELECT endpoint_id, showtime_id, id FROM webhook_deliveries
         WHERE status = 'pending' ORDER BY endpoint_id, showtime_id, id LIMIT 1)
        UNION ALL
        SELECT n.endpoint_id, n.showtime_id, n.id FROM heads h, LATERAL (
            SELECT endpoint_id, showtime_id, id FROM webhook_deliveries d
            WHERE d.status = 'pending'
              AND (d.endpoint_id, d.showtime_id) > (h.endpoint_id, h.showtime_id)
            ORDER BY endpoint_id, showtime_id, id LIMIT 1) n)
    SELECT d.id FROM heads h
    JOIN webhook_deliveries d ON d.id = h.id
    JOIN webhook_endpoints e ON e.id = h.endpoint_id
    WHERE e.enabled AND d.next_attempt_at <= now()
      AND (d.claimed_until IS NULL OR d.claimed_until < now())
      AND NOT h.endpoint_id = ANY($1::bigint[])
    ORDER BY d.next_attempt_at, d.id LIMIT $2"""

_CLAIM = """
    UPDATE webhook_deliveries d SET claimed_until = now() + $2::interval
    FROM webhook_events ev, webhook_endpoints e
    WHERE d.id = $1 AND d.status = 'pending' AND d.next_attempt_at <= now()
      AND (d.claimed_until IS NULL OR d.claimed_until < now())
      AND ev.id = d.event_id AND e.id = d.endpoint_id AND e.enabled
    RETURNING d.id, d.endpoint_id, d.event_id, d.attempts, ev.body::text AS body,
              e.url, e.secret, e.previous_secret, e.previous_until"""


def backoff(attempts: int, base_s: float, cap_s: float) -> float:
    """Seconds before the next try after ``attempts`` failures: doubling from
    ``base_s``, capped at ``cap_s``, then a random half of it taken off (jitter,
    so endpoints that come back are not hit by every queue at once)."""
    ceiling = min(cap_s, base_s * 2 ** max(0, attempts - 1))
    return float(ceiling) * random.uniform(0.5, 1.0)


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    endpoint_id: int
    event_id: int
    attempts: int
    body: str
    url: str
    secrets: tuple[str, ...]


@dataclass(slots=True)
class Outcome:
    status_code: int | None
    error: str | None
    latency_ms: int

    @property
    def ok(self) -> bool:
        return self.error is None


def signature(secrets: tuple[str, ...], msg_id: str, at: dt.datetime, body: str) -> str:
    """The ``webhook-signature`` header: one ``v1,`` signature per secret."""
    return " ".join(Webhook(s).sign(msg_id, at, body) for s in secrets)


class WebhookSender(BackgroundService):
    def __init__(self, pool: asyncpg.Pool, *, poll_s: float, timeout_s: float,
                 concurrency: int, max_attempts: int, retry_base_s: float,
                 retry_cap_s: float, allow_local: bool) -> None:
        self._pool = pool
        self._timeout_s = timeout_s
        self._concurrency = concurrency
        self._max_attempts = max_attempts
        self._base = retry_base_s
        self._cap = retry_cap_s
        self._allow_local = allow_local
        self._claim_for = dt.timedelta(seconds=timeout_s + CLAIM_MARGIN_S)
        self._http: aiohttp.ClientSession | None = None
        self._resolver = GuardedResolver(allow_local=allow_local)
        self._sending: dict[asyncio.Task[None], Claimed] = {}
        self._wake = asyncio.Event()
        self.delivered = 0
        self.failed = 0
        self.dead = 0
        self._poll_s = poll_s
        super().__init__(BackgroundTask("delivering webhooks", self._run))

    @property
    def in_flight(self) -> int:
        return len(self._sending)

    async def prepare(self) -> None:
        connector = aiohttp.TCPConnector(limit=self._concurrency, resolver=self._resolver,
                                         force_close=True)
        self._http = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=self._timeout_s),
            headers={"User-Agent": USER_AGENT}, cookie_jar=aiohttp.DummyCookieJar())

    async def __aexit__(self, *exc: object) -> None:
        await super().__aexit__(None, None, None)
        tasks, ids = list(self._sending), [c.id for c in self._sending.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if ids:
            # Cut short by the stop: another instance may send them at once.
            with contextlib.suppress(*OUTAGES):
                async with self._pool.acquire() as conn:
                    await conn.execute(
                        """UPDATE webhook_deliveries SET claimed_until = NULL
                           WHERE id = ANY($1::bigint[]) AND status = 'pending'""", ids)
        if self._http is not None:
            await self._http.close()
            await self._resolver.close()

    async def _run(self) -> None:
        # Like BackgroundTask.every, but woken early when a send ends: the
        # next delivery of its queue may be due at once.
        while True:
            try:
                await self.send_due()
            except OUTAGES as exc:
                log.warning("delivering webhooks failed, a service is away (%s: %s); "
                            "trying again in %.1fs", type(exc).__name__, exc, self._poll_s)
            except Exception:
                log.exception("delivering webhooks failed; trying again in %.1fs",
                              self._poll_s)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_s)

    async def send_due(self) -> int:
        """Claim due heads up to the free slots and start sending them."""
        free = self._concurrency - len(self._sending)
        if free <= 0:
            return 0
        counts: dict[int, int] = {}
        for claimed in self._sending.values():
            counts[claimed.endpoint_id] = counts.get(claimed.endpoint_id, 0) + 1
        full = [e for e, n in counts.items() if n >= PER_ENDPOINT]
        started = 0
        async with self._pool.acquire() as conn:
            heads = [r["id"] for r in await conn.fetch(HEADS, full, free)]
            for head in heads:
                row = await conn.fetchrow(_CLAIM, head, self._claim_for)
                if row is None:
                    continue  # another instance took it
                if counts.get(row["endpoint_id"], 0) >= PER_ENDPOINT:
                    await conn.execute("UPDATE webhook_deliveries SET claimed_until = NULL "
                                       "WHERE id = $1", head)
                    continue
                counts[row["endpoint_id"]] = counts.get(row["endpoint_id"], 0) + 1
                self._start(self._claimed(row))
                started += 1
        return started

    def _claimed(self, row: asyncpg.Record) -> Claimed:
        keys: tuple[str, ...] = (row["secret"],)
        until = row["previous_until"]
        if row["previous_secret"] and until is not None and until > dt.datetime.now(dt.UTC):
            keys = (row["secret"], row["previous_secret"])
        return Claimed(row["id"], row["endpoint_id"], row["event_id"], row["attempts"],
                       row["body"], row["url"], keys)

    def _start(self, claimed: Claimed) -> None:
        task = asyncio.create_task(self._deliver(claimed), name=f"webhook {claimed.id}")
        self._sending[task] = claimed
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._sending.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook delivery task failed", exc_info=task.exception())
        self._wake.set()

    async def _deliver(self, claimed: Claimed) -> None:
        outcome = await self._post(claimed)
        try:
            await self._record(claimed, outcome)
        except OUTAGES as exc:
            # The claim lapses and the delivery is sent again: at least once.
            log.warning("webhook delivery %d: could not record its outcome (%s: %s)",
                        claimed.id, type(exc).__name__, exc)

    async def _post(self, claimed: Claimed) -> Outcome:
        assert self._http is not None
        msg_id = f"msg_{claimed.event_id}"
        now = dt.datetime.now(dt.UTC)
        headers = {"content-type": "application/json", "webhook-id": msg_id,
                   "webhook-timestamp": str(int(now.timestamp())),
                   "webhook-signature": signature(claimed.secrets, msg_id, now, claimed.body)}
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            check_url(claimed.url, allow_local=self._allow_local)
            async with self._http.post(claimed.url, data=claimed.body.encode(),
                                       headers=headers, allow_redirects=False) as resp:
                status = resp.status
                if not 200 <= resp.status < 300:
                    error = f"HTTP {resp.status}"
        except RefusedTarget as exc:
            error = f"refused URL: {exc}"
        except TimeoutError:
            error = f"no answer within {self._timeout_s:g}s"
        except (aiohttp.ClientError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        latency = int((time.perf_counter() - started) * 1000)
        return Outcome(status, error, latency)

    async def _record(self, claimed: Claimed, outcome: Outcome) -> None:
        attempts = claimed.attempts + 1
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO webhook_attempts (delivery_id, status_code, error, latency_ms)
                   VALUES ($1, $2, $3, $4)""",
                claimed.id, outcome.status_code, outcome.error, outcome.latency_ms)
            if outcome.ok:
                self.delivered += 1
                await conn.execute(
                    """UPDATE webhook_deliveries SET status = 'delivered', attempts = $2,
                              delivered_at = now(), claimed_until = NULL, last_status = $3,
                              last_error = NULL WHERE id = $1""",
                    claimed.id, attempts, outcome.status_code)
                return
            self.failed += 1
            if attempts >= self._max_attempts:
                self.dead += 1
                log.warning("webhook delivery %d to endpoint %d is dead after %d attempts "
                            "(last: %s); later events of its showtime go on",
                            claimed.id, claimed.endpoint_id, attempts, outcome.error)
                await conn.execute(
                    """UPDATE webhook_deliveries SET status = 'dead', attempts = $2,
                              dead_at = now(), claimed_until = NULL, last_status = $3,
                              last_error = $4 WHERE id = $1""",
                    claimed.id, attempts, outcome.status_code, outcome.error)
                return
            delay = backoff(attempts, self._base, self._cap)
            await conn.execute(
                """UPDATE webhook_deliveries SET attempts = $2, claimed_until = NULL,
                          next_attempt_at = now() + $3::interval, last_status = $4,
                          last_error = $5 WHERE id = $1""",
                claimed.id, attempts, dt.timedelta(seconds=delay), outcome.status_code,
                outcome.error)
