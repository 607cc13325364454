"""Liveness and readiness: /healthz says the process answers, /readyz that its services do.

On a Redis Cluster every master is asked. Some masters down make the check
``degraded`` but leave the instance ready: the showtimes of the other masters
still sell, and every instance sees the same cluster, so taking them all out
of the load balancer would only turn a partial outage into a whole one. No
master answering is ``failed``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import asyncpg
from aiohttp import web
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from seatserver.http.openapi import describe
from seatserver.http.responses import json_response
from seatserver.http.roles import Role, allow

CHECK_TIMEOUT_S = 2.0


class HealthHandlers:
    def __init__(self, redis: Redis | RedisCluster, pool: asyncpg.Pool) -> None:
        self._redis = redis
        self._pool = pool

    # Probes of load balancers and orchestrators carry no session.
    @allow(Role.ANONYMOUS)
    @describe("Alive (no dependency checked).")
    async def healthz(self, request: web.Request) -> web.Response:
        return json_response({"status": "ok"})

    @allow(Role.ANONYMOUS)
    @describe("Ready: Redis and PostgreSQL answer (503 when not).")
    async def readyz(self, request: web.Request) -> web.Response:
        checks = {
            "redis": await self._check(self._ping_redis()),
            "postgres": await self._check(self._ping_postgres()),
        }
        ready = all(v == "ok" or v.startswith("degraded") for v in checks.values())
        return json_response({"status": "ok" if ready else "unavailable", "checks": checks},
                             200 if ready else 503)

    async def _ping_redis(self) -> str | None:
        redis = self._redis
        if not isinstance(redis, RedisCluster):
            await redis.ping()
            return None
        await redis.initialize()
        masters = redis.get_primaries()
        # Each within half the check's time, so that one unreachable master
        # reads as that master down rather than the whole check timing out.
        results = await asyncio.gather(
            *(asyncio.wait_for(redis.ping(target_nodes=node), CHECK_TIMEOUT_S / 2)
              for node in masters), return_exceptions=True)
        down = [node.name for node, result in zip(masters, results, strict=True)
                if isinstance(result, BaseException)]
        if len(down) == len(masters):
            raise ConnectionError(f"no master of the Redis Cluster answers ({len(down)})")
        return f"degraded: {', '.join(down)} down" if down else None

    async def _ping_postgres(self) -> None:
        async with self._pool.acquire() as conn:
            await conn.fetchval("SELECT 1")

    @staticmethod
    async def _check(probe: Coroutine[Any, Any, str | None]) -> str:
        """"ok", what the probe says is wrong but bearable, or "failed: <error>"."""
        try:
            remark = await asyncio.wait_for(probe, CHECK_TIMEOUT_S)
        except Exception as exc:
            return f"failed: {type(exc).__name__}"
        return remark or "ok"

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/healthz", self.healthz), web.get("/readyz", self.readyz)]
