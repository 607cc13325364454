"""Every typed AppKey the running application holds."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from seatserver.bookings.checkout import Checkout
from seatserver.bookings.expirer import PendingExpirer
from seatserver.bookings.keys import Keyring
from seatserver.bookings.reconcile import Reconciler
from seatserver.bookings.simulated import WebhookDispatcher
from seatserver.changefeed import ChangeFeed
from seatserver.holds import HoldEngine
from seatserver.holds.sweeper import ExpirySweeper
from seatserver.loop_lag import LoopLagMonitor
from seatserver.outbox.worker import OutboxWorker
from seatserver.realtime.rooms import RoomRegistry
from seatserver.realtime.view import SocketView
from seatserver.redis_client import RedisClient
from seatserver.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
REDIS: web.AppKey[RedisClient] = web.AppKey("redis")
FEED_REDIS: web.AppKey[RedisClient] = web.AppKey("feed_redis")
DB_POOL = web.AppKey("db_pool", asyncpg.Pool)
ENGINE = web.AppKey("engine", HoldEngine)
FEED = web.AppKey("feed", ChangeFeed)
SWEEPER = web.AppKey("sweeper", ExpirySweeper)
ROOMS = web.AppKey("rooms", RoomRegistry)
SOCKETS = web.AppKey("sockets", SocketView)
LOOP_LAG = web.AppKey("loop_lag", LoopLagMonitor)
CHECKOUT = web.AppKey("checkout", Checkout)
PENDING_EXPIRER = web.AppKey("pending_expirer", PendingExpirer)
OUTBOX = web.AppKey("outbox", OutboxWorker)
WEBHOOKS = web.AppKey("webhooks", WebhookDispatcher)
RECONCILER = web.AppKey("reconciler", Reconciler)
KEYRING = web.AppKey("keyring", Keyring)
