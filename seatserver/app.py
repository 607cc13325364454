"""create_app: the only module that wires the running application together."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from aiohttp import web

from seatserver.accounts.rbac import SECURITY_SCHEMES
from seatserver.accounts.setup import setup_accounts
from seatserver.appkeys import DB_POOL, FEED_REDIS, METRICS, PAGES, REDIS, SETTINGS
from seatserver.bookings.setup import CHECKOUT, setup_bookings
from seatserver.catalog.pages import CatalogPages
from seatserver.catalog.setup import CATALOG, setup_catalog
from seatserver.db import keep_session
from seatserver.holds.setup import ENGINE, setup_holds
from seatserver.house.setup import setup_house
from seatserver.http.errors import error_middleware
from seatserver.http.health import HealthHandlers
from seatserver.http.host import host_middleware
from seatserver.http.inputs import quiet_protocol_errors, refuse_nul
from seatserver.http.metrics import MetricsHandlers
from seatserver.http.openapi import OpenApiHandlers
from seatserver.http.pages import PageHandlers, error_pages
from seatserver.lifecycle import SHUTDOWN_STEP_S, Lifecycle, add_feature, started
from seatserver.logs import echo_request_id, request_id_middleware
from seatserver.loop_lag import LoopLagMonitor
from seatserver.metrics import SeatCollector
from seatserver.outbox.setup import setup_outbox
from seatserver.personal.setup import setup_personal
from seatserver.realtime.setup import COMMANDS, FEED, ROOMS, SOCKETS, setup_realtime
from seatserver.redis_client import cluster_mode, connect
from seatserver.reviews.setup import setup_reviews
from seatserver.sales.setup import setup_sales
from seatserver.settings import Settings
from seatserver.waiting.setup import setup_waiting
from seatserver.webhooks.setup import COLLECTOR, SENDER, setup_webhooks

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
# The change feed blocks on XREAD for up to 5 s; its socket must wait longer.
FEED_SOCKET_TIMEOUT_S = 15.0
# Per cluster node; the feed holds one per followed showtime on that node.
FEED_CLUSTER_CONNECTIONS = 10_000

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> web.Application:
    """The app for ``settings``, made without any I/O.

    Each feature adds a cleanup context (``seatserver.lifecycle``); they start
    in the order below, each from the parts of those before it, and stop in
    reverse. Whether Redis is a cluster is asked when the app starts, first."""
    if not settings.redis_url or not settings.database_url:
        raise ValueError("create_app needs redis_url and database_url")
    # aiohttp rounds a timer longer than timeout_ceil_threshold (5 s) up to
    # the whole second, so that timers fire together: every WebSocket's
    # heartbeat then falls due on the same ticks, and a room of 10,000 sent
    # ~500 pings in one loop iteration each second (stalls over 100 ms, a
    # task and timers per ping; docs/performance.md). Unrounded, they spread
    # as the connections did.
    app = web.Application(middlewares=[request_id_middleware, host_middleware,
                                       error_pages(lambda: app.get(PAGES)),
                                       error_middleware, refuse_nul],
                          client_max_size=64 * 1024,
                          handler_args={"timeout_ceil_threshold": math.inf})
    quiet_protocol_errors()
    app.on_response_prepare.append(echo_request_id)
    app[SETTINGS] = settings
    app[DB_POOL] = asyncpg.create_pool(settings.database_url, min_size=1,
                                       max_size=settings.db_pool_size, reset=keep_session)
    app.cleanup_ctx.append(_stores)
    setup_holds(app)
    # Personal-data keys before anything reads or writes a name or an address.
    setup_personal(app)
    setup_accounts(app)
    setup_catalog(app)
    # Bookings before anything that takes or admits buyers starts: its keys
    # load and its mirror of sold seats is rebuilt first.
    setup_bookings(app)
    setup_house(app)
    setup_waiting(app)
    setup_realtime(app)
    setup_reviews(app)
    setup_sales(app)
    setup_outbox(app)
    setup_webhooks(app)
    add_feature(app, _operations)
    return app


async def _stores(app: web.Application) -> AsyncIterator[None]:
    """The database pool, the Redis clients (once it is known whether Redis is
    a cluster) and the pages, as read now."""
    settings = app[SETTINGS]
    assert settings.redis_url is not None
    cluster = await cluster_mode(settings)
    app[REDIS] = connect(settings.redis_url, cluster=cluster,
                         max_connections=settings.redis_pool_size, socket_timeout=5.0)
    # On a cluster the feed blocks one connection per followed showtime.
    app[FEED_REDIS] = connect(settings.redis_url, cluster=cluster,
                              max_connections=FEED_CLUSTER_CONNECTIONS if cluster else 4,
                              socket_timeout=FEED_SOCKET_TIMEOUT_S)
    app[PAGES] = PageHandlers(WEB_DIR, CatalogPages(app[CATALOG]))
    services = Lifecycle()
    services.add("database pool", _opened(app[DB_POOL]), bounded=False)
    services.add("redis", started(stop=app[REDIS].aclose))
    services.add("feed redis", started(stop=app[FEED_REDIS].aclose))
    async with services.running():
        yield


def _operations(app: web.Application) -> Lifecycle:
    """Health, metrics, the pages and the API's description; the loop-lag
    monitor, last in and first out: it watches the loop while everything else runs."""
    lag = LoopLagMonitor(app[SETTINGS].stall_report_ms)
    app.router.add_routes(HealthHandlers(app[REDIS], app[DB_POOL]).routes())
    app[METRICS] = MetricsHandlers(
        SeatCollector(app[SOCKETS], app[ROOMS], app[FEED], lag, app[COMMANDS], app[ENGINE],
                      app[CHECKOUT], app[SENDER], app[COLLECTOR]),
        app[SETTINGS].metrics_token)
    app.router.add_routes(app[METRICS].routes())
    app.router.add_routes(app[PAGES].routes())
    app.router.add_routes(OpenApiHandlers(SECURITY_SCHEMES).routes())
    services = Lifecycle()
    services.add("loop-lag monitor", lag)
    return services


@asynccontextmanager
async def _opened(pool: asyncpg.Pool) -> AsyncIterator[None]:
    await pool  # opens the pool's first connections
    try:
        yield
    finally:
        try:
            await asyncio.wait_for(pool.close(), SHUTDOWN_STEP_S)
        except TimeoutError:
            log.error("shutdown: the database pool did not close within %ss; "
                      "terminating its connections", SHUTDOWN_STEP_S)
            pool.terminate()
