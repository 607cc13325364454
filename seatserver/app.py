"""create_app: the only module that wires the running application together."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from datetime import timedelta
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
from seatserver.bookings.outbox import (
    Composer,
    ComposerByKind,
    LogSink,
    MessageComposer,
    OutboxStore,
    OutboxWorker,
)
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
from seatserver.logs import echo_request_id, request_id_middleware
from seatserver.loop_lag import LoopLagMonitor
from seatserver.metrics import SeatCollector
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
    if not settings.redis_url or not settings.database_url:
        raise ValueError("create_app needs redis_url and database_url")
    app = web.Application(middlewares=[request_id_middleware, host_middleware,
                                       error_middleware, refuse_nul],
                          client_max_size=64 * 1024)
    quiet_protocol_errors()
    app.on_response_prepare.append(echo_request_id)
    cluster = cluster_mode(settings)
    redis = connect(settings.redis_url, cluster=cluster,
                    max_connections=settings.redis_pool_size, socket_timeout=5.0)
    # On a cluster the feed blocks one connection per followed showtime.
    feed_redis = connect(settings.redis_url, cluster=cluster,
                         max_connections=FEED_CLUSTER_CONNECTIONS if cluster else 4,
                         socket_timeout=FEED_SOCKET_TIMEOUT_S)
    pool = asyncpg.create_pool(settings.database_url, min_size=1,
                               max_size=settings.db_pool_size)

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
    sessions = SessionStore(pool)
    rooms = RoomRegistry(engine, feed, catalog, sweeper,
                         summary_interval_s=settings.summary_interval_s)
    commands = Commands(engine, rooms)
    proxies = TrustedProxies(settings.trusted_proxies)
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

    app[k.SETTINGS] = settings
    app[k.REDIS] = redis
    app[k.FEED_REDIS] = feed_redis
    app[k.DB_POOL] = pool
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
    composers: dict[str, MessageComposer] = {"booking_confirmed": Composer(bookings, tickets)}
    composers |= dict.fromkeys(ACCOUNT_MESSAGES, AccountComposer())
    app[k.OUTBOX] = OutboxWorker(
        pool, ComposerByKind(composers), LogSink(settings.data_dir / "outbox"),
        poll_s=settings.outbox_poll_s, retry_base_s=settings.outbox_retry_base_s,
        retry_cap_s=settings.outbox_retry_cap_s, max_attempts=settings.outbox_max_attempts)

    cookies = SessionCookies(proxies, always_secure=settings.secure_cookies)
    accounts = AccountStore(pool, email_ttl=timedelta(seconds=settings.email_token_ttl_s),
                            reset_ttl=timedelta(seconds=settings.reset_token_ttl_s))
    auth = Authenticator(accounts, Passwords(concurrency=settings.password_hash_concurrency),
                         GuestLinker(engine), _throttles(redis, settings))
    RoleGate(sessions, cookies, settings.allowed_origins).install(app)

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
    check_declared(app)  # and again at start-up, for routes added after this
    app.cleanup_ctx.append(_services)
    app.on_shutdown.append(_close_sockets)
    return app


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


async def _services(app: web.Application) -> AsyncIterator[None]:
    await app[k.DB_POOL]  # opens the pool's first connections
    await app[k.KEYRING].start()  # before anything signs or verifies
    await app[k.FEED].start()
    await app[k.SWEEPER].start()
    await app[k.LOOP_LAG].start()
    await _reconcile(app[k.RECONCILER])
    await app[k.RECONCILER].start()
    await app[k.PENDING_EXPIRER].start()
    await app[k.OUTBOX].start()
    yield
    # Each step is bounded: a stuck part must not hang the whole shutdown.
    for name, step in (
        ("loop-lag monitor", app[k.LOOP_LAG].stop()),
        ("signing keys reload", app[k.KEYRING].stop()),
        ("pending expirer", app[k.PENDING_EXPIRER].stop()),
        ("bookings mirror check", app[k.RECONCILER].stop()),
        ("outbox worker", app[k.OUTBOX].stop()),
        ("webhook deliveries", app[k.WEBHOOKS].close()),
        ("rooms", app[k.ROOMS].close()),
        ("expiry sweeper", app[k.SWEEPER].stop()),
        ("change feed", app[k.FEED].stop()),
        ("hold engine", app[k.ENGINE].close()),
        ("redis", app[k.REDIS].aclose()),
        ("feed redis", app[k.FEED_REDIS].aclose()),
    ):
        await _bounded(name, step)
    if not await _bounded("database pool", app[k.DB_POOL].close()):
        app[k.DB_POOL].terminate()


async def _reconcile(reconciler: Reconciler) -> None:
    """Rebuild Redis' booked and pending seats from PostgreSQL, so a flushed
    Redis loses no sale and shows no sold or reserved seat as free.

    A Redis that is down must not keep the app from starting: the hold path
    answers `unavailable` meanwhile, and the mirror check repairs later.
    """
    try:
        done = await asyncio.wait_for(reconciler.run(), 30)
    except Exception:
        log.exception("start-up reconciliation of booked seats failed")
        return
    if done.changed:
        log.warning("reconciliation: %s", done)


async def _bounded(name: str, step: Awaitable[None]) -> bool:
    try:
        await asyncio.wait_for(step, SHUTDOWN_STEP_S)
    except TimeoutError:
        log.error("shutdown: %s did not stop within %ss", name, SHUTDOWN_STEP_S)
        return False
    return True


async def _close_sockets(app: web.Application) -> None:
    """Tell every client we are going away, so it reconnects elsewhere at once."""
    for conn in list(app[k.SOCKETS].connections):
        conn.close(1001, "server shutting down")
