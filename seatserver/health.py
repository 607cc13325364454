"""Liveness and readiness: /healthz says the process answers, /readyz that its services do."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import asyncpg
import orjson
from aiohttp import web
from redis.asyncio import Redis

CHECK_TIMEOUT_S = 2.0


class HealthHandlers:
    def __init__(self, redis: Redis, pool: asyncpg.Pool) -> None:
        self._redis = redis
        self._pool = pool

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        checks = {
            "redis": await self._check(self._ping_redis()),
            "postgres": await self._check(self._ping_postgres()),
        }
        ready = all(v == "ok" for v in checks.values())
        body = orjson.dumps({"status": "ok" if ready else "unavailable", "checks": checks})
        return web.Response(status=200 if ready else 503, body=body,
                            content_type="application/json")

    async def _ping_redis(self) -> None:
        await self._redis.ping()

    async def _ping_postgres(self) -> None:
        async with self._pool.acquire() as conn:
            await conn.fetchval("SELECT 1")

    @staticmethod
    async def _check(probe: Coroutine[Any, Any, None]) -> str:
        try:
            await asyncio.wait_for(probe, CHECK_TIMEOUT_S)
        except Exception as exc:
            return f"failed: {type(exc).__name__}"
        return "ok"

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/healthz", self.healthz), web.get("/readyz", self.readyz)]
