"""create_app: the only module that wires the running application together."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path

import asyncpg
from aiohttp import web

from seatserver import appkeys as k
from seatserver.accounts.auth import Authenticator, Throttles
from seatserver.accounts.cookies import SessionCookies
from seatserver.accounts.http import AccountHandlers, SessionHandlers
from seatserver.accounts.linking import GuestLinker
from seatserver.accounts.messages import KINDS as ACCOUNT_MESSAGES
from seatserver.accounts.messages import AccountComposer
from seatserver.accounts.passwords import Passwords
from seatserver.accounts.proxies import TrustedProxies
from seatserver.accounts.rbac import SECURITY_SCHEMES, RoleGate
from seatserver.accounts.sessions import SessionStore
from seatserver.accounts.store import AccountStore
from seatserver.accounts.throttle import Throttle
from seatserver.audit import AuditStore
from seatserver.bookings.admin_http import BookingAdminHandlers
from seatserver.bookings.checkout import Checkout
from seatserver.bookings.door import Door
from seatserver.bookings.expirer import PendingExpirer
from seatserver.bookings.http import BookingHandlers
from seatserver.bookings.idempotency import IdempotencyStore
from seatserver.bookings.keys import Keyring, SecretStore
from seatserver.bookings.messages import BookingComposer
from seatserver.bookings.reconcile import Reconciler
from seatserver.bookings.refunds import RefundPolicy
from seatserver.bookings.simulated import SimulatedGateway, WebhookDispatcher
from seatserver.bookings.store import BookingStore
from seatserver.bookings.tickets import TicketSigner
from seatserver.catalog.admin import CatalogAdminStore
from seatserver.catalog.admin_http import Auditor, CatalogAdminHandlers
from seatserver.catalog.availability import Availability
from seatserver.catalog.http import CatalogHandlers
from seatserver.catalog.store import CatalogStore
from seatserver.changefeed import ChangeFeed
from seatserver.holds import HoldEngine
from seatserver.holds.sweeper import ExpirySweeper
from seatserver.http.errors import error_middleware
from seatserver.http.health import HealthHandlers
from seatserver.http.host import host_middleware
from seatserver.http.inputs import quiet_protocol_errors, refuse_nul
from seatserver.http.metrics import MetricsHandlers
from seatserver.http.openapi import OpenApiHandlers
from seatserver.http.pages import STATIC_PREFIX, PageHandlers
from seatserver.http.roles import check_declared
from seatserver.lifecycle import Lifecycle, started
from seatserver.logs import echo_request_id, request_id_middleware
from seatserver.loop_lag import LoopLagMonitor
from seatserver.metrics import SeatCollector
from seatserver.outbox.messages import ComposerByKind, LogSink, MessageComposer
from seatserver.outbox.worker import OutboxStore, OutboxWorker
from seatserver.realtime.commands import Commands
from seatserver.realtime.rooms import RoomRegistry
from seatserver.realtime.view import SocketView
from seatserver.redis_client import RedisClient, cluster_mode, connect
from seatserver.reviews.http import ReviewHandlers
from seatserver.reviews.store import ReviewStore
from seatserver.settings import Settings

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
# The change feed blocks on XREAD for up to 5 s; its socket must wait longer.
FEED_SOCKET_TIMEOUT_S = 15.0
# Per cluster node; the feed holds one per followed showtime on that node.
FEED_CLUSTER_CONNECTIONS = 10_000
SHUTDOWN_STEP_S = 5.0

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> web.Application:
    """The app for ``settings``, made without any I/O: whether Redis is a
    cluster is asked, and the parts that depend on it are made, when the app
    starts (``_lifecycle``)."""
    if not settings.redis_url or not settings.database_url:
        raise ValueError("create_app needs redis_url and database_url")
    app = web.Application(middlewares=[request_id_middleware, host_middleware,
                                       error_middleware, refuse_nul],
                          client_max_size=64 * 1024)
    quiet_protocol_errors()
    app.on_response_prepare.append(echo_request_id)
    pool = asyncpg.create_pool(settings.database_url, min_size=1,
                               max_size=settings.db_pool_size)
    sessions = SessionStore(pool)
    proxies = TrustedProxies(settings.trusted_proxies)
    cookies = SessionCookies(proxies, always_secure=settings.secure_cookies)
    # Installed now: start-up steps and middlewares are fixed once it starts.
    RoleGate(sessions, cookies, settings.allowed_origins).install(app)
    app[k.SETTINGS] = settings
    app[k.DB_POOL] = pool
    app.cleanup_ctx.append(partial(_lifecycle, edge=_Edge(sessions, cookies, proxies)))
    app.on_shutdown.append(_close_sockets)
    return app


@dataclass(frozen=True, slots=True)
class _Edge:
    """What create_app made for the role gate, and the routes share."""

    sessions: SessionStore
    cookies: SessionCookies
    proxies: TrustedProxies


async def _lifecycle(app: web.Application, *, edge: _Edge) -> AsyncIterator[None]:
    """The app's one cleanup context: asks Redis what it is, wires the app
    (routes included: the router is fixed only after start-up) and runs its
    services for as long as the app runs."""
    cluster = await cluster_mode(app[k.SETTINGS])
    with_services = _wire(app, edge, cluster)
    check_declared(app)  # the routes just added; RoleGate checked the others first
    async with with_services.running():
        yield


def _wire(app: web.Application, edge: _Edge, cluster: bool) -> Lifecycle:
    settings = app[k.SETTINGS]
    assert settings.redis_url is not None
    pool, sessions, cookies, proxies = app[k.DB_POOL], edge.sessions, edge.cookies, edge.proxies
    redis = connect(settings.redis_url, cluster=cluster,
                    max_connections=settings.redis_pool_size, socket_timeout=5.0)
    # On a cluster the feed blocks one connection per followed showtime.
    feed_redis = connect(settings.redis_url, cluster=cluster,
                         max_connections=FEED_CLUSTER_CONNECTIONS if cluster else 4,
                         socket_timeout=FEED_SOCKET_TIMEOUT_S)

    engine = HoldEngine(
        redis,
        hold_ttl_ms=settings.hold_ttl_s * 1000,
        max_seats=settings.max_seats,
        stream_maxlen=settings.stream_maxlen,
        backstop_ms=settings.backstop_ms,
        longest_hold_ms=settings.payment_window_s * 1000,
        max_seats_per_address=settings.max_seats_per_address,
    )
    feed = ChangeFeed(feed_redis)
    sweeper = ExpirySweeper(engine)
    catalog = CatalogStore(pool, sales_close=timedelta(minutes=settings.sales_close_min))
    rooms = RoomRegistry(engine, feed, catalog, sweeper,
                         summary_interval_s=settings.summary_interval_s)
    commands = Commands(engine, rooms)
    sockets = SocketView(commands, rooms, settings, proxies)
    lag = LoopLagMonitor()
    bookings = BookingStore(pool)
    # Configured keys, else the ones generated and kept in PostgreSQL.
    keyring = Keyring(SecretStore(pool), {"payment": settings.payment_secret,
                                          "ticket": settings.ticket_secret},
                      refresh_s=settings.secret_refresh_s)
    webhooks = WebhookDispatcher(
        keyring, duplicate_rate=settings.sim_duplicate_rate,
        reorder_rate=settings.sim_reorder_rate, retry_base_s=settings.sim_retry_base_s)
    simulated = SimulatedGateway(pool, keyring, webhooks,
                                 tolerance_s=settings.webhook_tolerance_s)
    tickets = TicketSigner(keyring)
    checkout = Checkout(
        bookings, engine, catalog, {simulated.name: simulated},
        default_gateway=simulated.name,
        sales_close=timedelta(minutes=settings.sales_close_min),
        payment_window=timedelta(seconds=settings.payment_window_s),
        payment_timeout_s=settings.payment_timeout_s, public_url=settings.public_origin,
        refunds=RefundPolicy(full_before=timedelta(hours=settings.refund_full_h),
                             cutoff=timedelta(minutes=settings.cancel_cutoff_min),
                             partial_percent=settings.refund_partial_percent))

    app[k.REDIS] = redis
    app[k.FEED_REDIS] = feed_redis
    app[k.ENGINE] = engine
    app[k.FEED] = feed
    app[k.SWEEPER] = sweeper
    app[k.ROOMS] = rooms
    app[k.SOCKETS] = sockets
    app[k.LOOP_LAG] = lag
    app[k.CHECKOUT] = checkout
    app[k.KEYRING] = keyring
    keys = IdempotencyStore(pool)
    app[k.PENDING_EXPIRER] = PendingExpirer(checkout, keys, settings.pending_sweep_s)
    app[k.RECONCILER] = Reconciler(bookings, engine, check_s=settings.mirror_check_s)
    app[k.WEBHOOKS] = webhooks
    # Confirmation messages go to the log and to readable files under the
    # data folder until a real sender (mail, SMS) implements MessageSink.
    composers: dict[str, MessageComposer] = {
        "booking_confirmed": BookingComposer(bookings, tickets)}
    composers |= dict.fromkeys(ACCOUNT_MESSAGES, AccountComposer())
    app[k.OUTBOX] = OutboxWorker(
        pool, ComposerByKind(composers), LogSink(settings.data_dir / "outbox"),
        poll_s=settings.outbox_poll_s, retry_base_s=settings.outbox_retry_base_s,
        retry_cap_s=settings.outbox_retry_cap_s, max_attempts=settings.outbox_max_attempts)

    accounts = AccountStore(pool, email_ttl=timedelta(seconds=settings.email_token_ttl_s),
                            reset_ttl=timedelta(seconds=settings.reset_token_ttl_s))
    auth = Authenticator(accounts, Passwords(concurrency=settings.password_hash_concurrency),
                         GuestLinker(engine), _throttles(redis, settings))

    app.router.add_get("/ws", sockets.handle)
    app.router.add_routes(HealthHandlers(redis, pool).routes())
    app.router.add_routes(MetricsHandlers(
        SeatCollector(sockets, rooms, feed, lag, commands, engine, checkout),
        settings.metrics_token).routes())
    app.router.add_routes(SessionHandlers(sessions, cookies, proxies, _guest_sessions(
        redis, settings)).routes())
    app.router.add_routes(AccountHandlers(auth, accounts, sessions, cookies, proxies).routes())
    app.router.add_routes(CatalogHandlers(catalog, Availability(engine, catalog)).routes())
    auditor = Auditor(AuditStore(pool), proxies)
    app.router.add_routes(CatalogAdminHandlers(CatalogAdminStore(pool, catalog), auditor).routes())
    app.router.add_routes(BookingAdminHandlers(
        checkout, bookings, OutboxStore(pool), auditor).routes())
    pages = PageHandlers(WEB_DIR)
    app.router.add_routes(BookingHandlers(
        checkout, bookings, keys, tickets, catalog, Door(bookings, catalog, tickets),
        static_url=f"{STATIC_PREFIX}/{pages.version}").routes())
    app.router.add_routes(ReviewHandlers(ReviewStore(pool), auditor).routes())
    app.router.add_routes(simulated.routes())
    app.router.add_routes(pages.routes())
    app.router.add_routes(OpenApiHandlers(SECURITY_SCHEMES).routes())
    return _services(app)


def _throttles(redis: RedisClient, settings: Settings) -> Throttles:
    window = settings.login_window_s
    return Throttles(
        login_account=Throttle(redis, "login:account", limit=settings.login_limit_account,
                               window_s=window),
        login_address=Throttle(redis, "login:address", limit=settings.login_limit_address,
                               window_s=window),
        register_address=Throttle(redis, "register:address",
                                  limit=settings.login_limit_address, window_s=window),
        reset_account=Throttle(redis, "reset:account", limit=settings.reset_limit,
                               window_s=window),
        reset_address=Throttle(redis, "reset:address", limit=3 * settings.reset_limit,
                               window_s=window),
        email_change=Throttle(redis, "email:account", limit=settings.email_change_limit,
                              window_s=window),
    )


def _guest_sessions(redis: RedisClient, settings: Settings) -> Throttle | None:
    if not settings.guest_sessions_per_minute:
        return None
    return Throttle(redis, "sessions:address", limit=settings.guest_sessions_per_minute,
                    window_s=60)


def _services(app: web.Application) -> Lifecycle:
    """Every service, in the order it starts; they stop in reverse."""
    services = Lifecycle(stop_within_s=SHUTDOWN_STEP_S)
    feed, lag = app[k.FEED], app[k.LOOP_LAG]
    keyring, reconciler, expirer, outbox = (app[k.KEYRING], app[k.RECONCILER],
                                            app[k.PENDING_EXPIRER], app[k.OUTBOX])
    # The stores and the hold path.
    services.add("database pool", _opened(app[k.DB_POOL]), bounded=False)
    services.add("redis", started(stop=app[k.REDIS].aclose))
    services.add("feed redis", started(stop=app[k.FEED_REDIS].aclose))
    services.add("hold engine", started(stop=app[k.ENGINE].close))
    services.add("change feed", feed)
    services.add("expiry sweeper", started(app[k.SWEEPER].start, app[k.SWEEPER].stop))
    # Rooms.
    services.add("rooms", started(stop=app[k.ROOMS].close))
    # Bookings: keys before anything signs or verifies; the mirror rebuilt
    # before the first sale.
    services.add("signing keys reload", keyring)
    services.add("bookings mirror check", reconciler)
    services.add("pending expirer", expirer)
    services.add("outbox worker", outbox)
    services.add("webhook deliveries", started(stop=app[k.WEBHOOKS].close))
    # Last in, first out: it watches the loop while everything else runs.
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


async def _close_sockets(app: web.Application) -> None:
    """Tell every client we are going away, so it reconnects elsewhere at once."""
    for conn in list(app[k.SOCKETS].connections):
        conn.close(1001, "server shutting down")
