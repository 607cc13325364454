"""A dead endpoint's backlog does not make every poll read it: the sender finds
each queue's head by one probe of the pending index per queue."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from seatserver.webhooks.sender import HEADS

BACKLOG = 60_000
SHOWTIMES = 3
BOUND_MS = 200  # measured ~1 ms; room for a machine busy with other tests


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += _nodes(child)
    return found


async def test_the_heads_of_a_large_backlog_are_found_without_reading_it(
        db_pool: asyncpg.Pool, demo: list[int]) -> None:
    async with db_pool.acquire() as conn:
        endpoint = await conn.fetchval(
            "INSERT INTO webhook_endpoints (url, event_types, secret) "
            "VALUES ('https://hooks.example.com/', '{seat.held}', 'whsec_AAAA') RETURNING id")
        await conn.execute(
            """INSERT INTO webhook_events (event_type, showtime_id, body)
               SELECT 'seat.held', g % $2, '{}' FROM generate_series(1, $1) g""",
            BACKLOG, SHOWTIMES)
        await conn.execute(
            """INSERT INTO webhook_deliveries (endpoint_id, event_id, showtime_id)
               SELECT $1, id, showtime_id FROM webhook_events""", endpoint)
        await conn.execute("ANALYZE webhook_deliveries")
        heads = await conn.fetch(HEADS, [], 100)
        assert len(heads) == SHOWTIMES
        [explained] = json.loads(await conn.fetchval(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + HEADS, [], 100))
    nodes = _nodes(explained["Plan"])
    scans = [n for n in nodes if n.get("Relation Name") == "webhook_deliveries"]
    assert all(n["Node Type"] != "Seq Scan" for n in scans), scans
    read = max(n["Actual Rows"] * n.get("Actual Loops", 1) for n in scans)
    assert read < 100, read
    assert explained["Execution Time"] < BOUND_MS
