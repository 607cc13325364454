"""The AppKeys every feature may read: settings, the stores, the pages.

Each feature's own parts are under AppKeys of its setup module
(``seatserver.holds.setup.ENGINE``, ``seatserver.bookings.setup.CHECKOUT``,
...), set when its cleanup context starts, for the features after it.
"""

from __future__ import annotations

import asyncpg
from aiohttp import web

from seatserver.http.metrics import MetricsHandlers
from seatserver.http.pages import PageHandlers
from seatserver.redis_client import RedisClient
from seatserver.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DB_POOL = web.AppKey("db_pool", asyncpg.Pool)
# Set when the app starts: which client they are depends on whether Redis is a cluster.
REDIS: web.AppKey[RedisClient] = web.AppKey("redis")
FEED_REDIS: web.AppKey[RedisClient] = web.AppKey("feed_redis")
# The pages as read at start-up; bookings link to their versioned assets.
PAGES = web.AppKey("pages", PageHandlers)
# /metrics, for the process's own metrics port too (serving.py).
METRICS = web.AppKey("metrics", MetricsHandlers)
