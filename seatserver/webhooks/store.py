"""WebhookStore: endpoints, their deliveries and the log of attempts (PostgreSQL).

An endpoint's signing secret (``whsec_`` and 32 random bytes in base64, the
Standard Webhooks form) is made here and returned once, by ``create`` and
``rotate``; no read returns it again. After a rotation the previous secret
keeps signing beside the new one (two signatures in ``webhook-signature``)
for ``ROTATION_GRACE`` so receivers can switch without losing a message.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from typing import Any

import asyncpg

from seatserver.errors import NotFound, UnknownShowtime
from seatserver.webhooks.inputs import EndpointChange, EndpointIn

ROTATION_GRACE = dt.timedelta(hours=24)

_ENDPOINT = """
    SELECT e.id, e.url, e.description, e.event_types, e.showtime_id, e.enabled,
           e.created_at, e.updated_at, e.previous_until,
           (SELECT count(*) FROM webhook_deliveries d
             WHERE d.endpoint_id = e.id AND d.status = 'pending') AS pending,
           (SELECT count(*) FROM webhook_deliveries d
             WHERE d.endpoint_id = e.id AND d.status = 'dead') AS dead
    FROM webhook_endpoints e"""


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _iso(at: dt.datetime | None) -> str | None:
    return at.astimezone(dt.UTC).isoformat() if at is not None else None


def endpoint_view(row: asyncpg.Record) -> dict[str, Any]:
    """An endpoint as the admin API shows it: never its secret."""
    grace = row["previous_until"]
    now = dt.datetime.now(dt.UTC)
    return {"id": row["id"], "url": row["url"], "description": row["description"],
            "events": list(row["event_types"]), "showtime": row["showtime_id"],
            "enabled": row["enabled"], "created_at": _iso(row["created_at"]),
            "updated_at": _iso(row["updated_at"]),
            "previous_secret_until": _iso(grace) if grace and grace > now else None,
            "pending": row["pending"], "dead": row["dead"]}


def delivery_view(row: asyncpg.Record, attempts: list[asyncpg.Record]) -> dict[str, Any]:
    return {"id": row["id"], "event": {"id": f"msg_{row['event_id']}",
                                       "type": row["event_type"],
                                       "showtime": row["showtime_id"]},
            "status": row["status"], "attempts": row["attempts"],
            "next_attempt_at": _iso(row["next_attempt_at"]) if row["status"] == "pending"
            else None,
            "last_status": row["last_status"], "last_error": row["last_error"],
            "created_at": _iso(row["created_at"]),
            "delivered_at": _iso(row["delivered_at"]), "dead_at": _iso(row["dead_at"]),
            "log": [{"at": _iso(a["at"]), "status_code": a["status_code"],
                     "error": a["error"], "latency_ms": a["latency_ms"]} for a in attempts]}


async def _check_showtime(conn: asyncpg.Connection, showtime: int | None) -> None:
    if showtime is not None and not await conn.fetchval(
            "SELECT true FROM showtimes WHERE id = $1", showtime):
        raise UnknownShowtime(f"showtime: there is no showtime {showtime}")


class WebhookStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def endpoints(self) -> list[dict[str, Any]]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(_ENDPOINT + " ORDER BY e.id")
        return [endpoint_view(r) for r in rows]

    async def endpoint(self, endpoint_id: int,
                       conn: asyncpg.Connection | None = None) -> dict[str, Any]:
        if conn is None:
            async with self._pool.acquire() as own:
                return await self.endpoint(endpoint_id, own)
        row = await conn.fetchrow(_ENDPOINT + " WHERE e.id = $1", endpoint_id)
        if row is None:
            raise NotFound(f"there is no webhook endpoint {endpoint_id}")
        return endpoint_view(row)

    async def create(self, data: EndpointIn) -> tuple[dict[str, Any], str]:
        """The new endpoint and its secret (shown this once)."""
        secret = new_secret()
        async with self._pool.acquire() as conn, conn.transaction():
            await _check_showtime(conn, data.showtime)
            endpoint_id = await conn.fetchval(
                """INSERT INTO webhook_endpoints (url, description, event_types, showtime_id,
                                                  secret, enabled)
                   VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
                data.url, data.description, list(data.events), data.showtime, secret,
                data.enabled)
            return await self.endpoint(endpoint_id, conn), secret

    async def change(self, endpoint_id: int, change: EndpointChange
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Before and after."""
        given = change.model_fields_set
        async with self._pool.acquire() as conn, conn.transaction():
            before = await self.endpoint(endpoint_id, conn)
            if "showtime" in given:
                await _check_showtime(conn, change.showtime)
            await conn.execute(
                """UPDATE webhook_endpoints SET
                       url = coalesce($2, url), description = coalesce($3, description),
                       event_types = coalesce($4, event_types),
                       showtime_id = CASE WHEN $5 THEN $6 ELSE showtime_id END,
                       enabled = coalesce($7, enabled), updated_at = now()
                   WHERE id = $1""",
                endpoint_id, change.url, change.description,
                list(change.events) if change.events is not None else None,
                "showtime" in given, change.showtime, change.enabled)
            return before, await self.endpoint(endpoint_id, conn)

    async def delete(self, endpoint_id: int) -> dict[str, Any]:
        async with self._pool.acquire() as conn, conn.transaction():
            before = await self.endpoint(endpoint_id, conn)
            await conn.execute("DELETE FROM webhook_endpoints WHERE id = $1", endpoint_id)
            return before

    async def rotate(self, endpoint_id: int) -> tuple[dict[str, Any], str]:
        """A new secret; the old one signs too for ``ROTATION_GRACE``."""
        secret = new_secret()
        async with self._pool.acquire() as conn, conn.transaction():
            done = await conn.execute(
                """UPDATE webhook_endpoints SET previous_secret = secret, secret = $2,
                          previous_until = now() + $3::interval, updated_at = now()
                   WHERE id = $1""", endpoint_id, secret, ROTATION_GRACE)
            if done == "UPDATE 0":
                raise NotFound(f"there is no webhook endpoint {endpoint_id}")
            return await self.endpoint(endpoint_id, conn), secret

    async def deliveries(self, endpoint_id: int, status: str | None, limit: int
                         ) -> list[dict[str, Any]]:
        """The newest deliveries of an endpoint, each with its log of attempts."""
        async with self._pool.acquire() as conn:
            await self.endpoint(endpoint_id, conn)
            rows = await conn.fetch(
                """SELECT d.*, ev.event_type FROM webhook_deliveries d
                   JOIN webhook_events ev ON ev.id = d.event_id
                   WHERE d.endpoint_id = $1 AND ($2::text IS NULL OR d.status = $2)
                   ORDER BY d.id DESC LIMIT $3""", endpoint_id, status, limit)
            attempts = await conn.fetch(
                """SELECT * FROM webhook_attempts WHERE delivery_id = ANY($1::bigint[])
                   ORDER BY id""", [r["id"] for r in rows])
        by_delivery: dict[int, list[asyncpg.Record]] = {}
        for attempt in attempts:
            by_delivery.setdefault(attempt["delivery_id"], []).append(attempt)
        return [delivery_view(r, by_delivery.get(r["id"], [])) for r in rows]

    async def resend(self, delivery_id: int) -> tuple[str, int] | None:
        """Put a delivered or dead delivery back at the head of its queue, due
        now with a fresh count of attempts: ``(status before, endpoint)``;
        None when it is pending already."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT status, endpoint_id FROM webhook_deliveries WHERE id = $1 FOR UPDATE",
                delivery_id)
            if row is None:
                raise NotFound(f"there is no webhook delivery {delivery_id}")
            if row["status"] == "pending":
                return None
            await conn.execute(
                """UPDATE webhook_deliveries SET status = 'pending', attempts = 0,
                          next_attempt_at = now(), claimed_until = NULL,
                          delivered_at = NULL, dead_at = NULL WHERE id = $1""", delivery_id)
            return row["status"], row["endpoint_id"]
