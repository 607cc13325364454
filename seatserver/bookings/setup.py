"""setup_bookings: checkout, payments, tickets, refunds and the door."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
from aiohttp import web

from seatserver.appkeys import DB_POOL, PAGES, SETTINGS
from seatserver.bookings.admin_http import BookingAdminHandlers
from seatserver.bookings.checkout import Checkout
from seatserver.bookings.door import Door
from seatserver.bookings.expirer import PendingExpirer
from seatserver.bookings.gateway import PaymentGateway
from seatserver.bookings.http import BookingHandlers
from seatserver.bookings.idempotency import IdempotencyStore
from seatserver.bookings.keys import Keyring, SecretStore
from seatserver.bookings.links import TicketLinks
from seatserver.bookings.messages import BookingComposer
from seatserver.bookings.reconcile import Reconciler
from seatserver.bookings.refunds import RefundPolicy
from seatserver.bookings.simulated import SimulatedGateway, WebhookDispatcher
from seatserver.bookings.store import BookingStore
from seatserver.bookings.stripe_gateway import NAME as STRIPE
from seatserver.bookings.stripe_gateway import StripeGateway, stripe_client
from seatserver.bookings.tickets import TicketSigner
from seatserver.catalog.setup import AUDITOR, CATALOG
from seatserver.holds.setup import ENGINE
from seatserver.http.pages import STATIC_PREFIX
from seatserver.lifecycle import Lifecycle, add_feature, started
from seatserver.outbox.setup import add_composers
from seatserver.outbox.worker import OutboxStore
from seatserver.personal.setup import PERSONAL
from seatserver.settings import Settings

BOOKINGS = web.AppKey("bookings", BookingStore)
KEYRING = web.AppKey("keyring", Keyring)
TICKETS = web.AppKey("tickets", TicketSigner)
LINKS = web.AppKey("ticket_links", TicketLinks)
CHECKOUT = web.AppKey("checkout", Checkout)


def setup_bookings(app: web.Application) -> None:
    settings, pool = app[SETTINGS], app[DB_POOL]
    bookings = BookingStore(pool, app[PERSONAL])
    # Configured keys, else the ones generated and kept in PostgreSQL.
    keyring = Keyring(SecretStore(pool), {"payment": settings.payment_secret,
                                          "ticket": settings.ticket_secret},
                      refresh_s=settings.secret_refresh_s)
    tickets = TicketSigner(keyring)
    links = TicketLinks(keyring, settings.public_origin)
    app[BOOKINGS], app[KEYRING], app[TICKETS], app[LINKS] = bookings, keyring, tickets, links
    add_composers(app, {"booking_confirmed": BookingComposer(bookings, app[CATALOG], tickets,
                                                             links)})
    add_feature(app, _wire)


def _wire(app: web.Application) -> Lifecycle:
    settings, pool, engine, catalog = app[SETTINGS], app[DB_POOL], app[ENGINE], app[CATALOG]
    bookings, keyring, tickets = app[BOOKINGS], app[KEYRING], app[TICKETS]
    webhooks = WebhookDispatcher(
        keyring, duplicate_rate=settings.sim_duplicate_rate,
        reorder_rate=settings.sim_reorder_rate, retry_base_s=settings.sim_retry_base_s)
    simulated = SimulatedGateway(pool, keyring, webhooks,
                                 tolerance_s=settings.webhook_tolerance_s)
    gateways: dict[str, PaymentGateway] = {simulated.name: simulated}
    services = Lifecycle()
    if settings.payment_provider == "stripe":
        gateways[STRIPE] = _stripe(settings, services)
    checkout = Checkout(
        bookings, engine, catalog, gateways, default_gateway=settings.payment_provider,
        sales_close=timedelta(minutes=settings.sales_close_min),
        payment_window=timedelta(seconds=settings.payment_window_s),
        payment_timeout_s=settings.payment_timeout_s, public_url=settings.public_origin,
        refunds=RefundPolicy(full_before=timedelta(hours=settings.refund_full_h),
                             cutoff=timedelta(minutes=settings.cancel_cutoff_min),
                             partial_percent=settings.refund_partial_percent))
    app[CHECKOUT] = checkout
    keys = IdempotencyStore(pool, app[PERSONAL])

    app.router.add_routes(BookingAdminHandlers(
        checkout, bookings, OutboxStore(pool), app[AUDITOR],
        refund_reauth_above=app[SETTINGS].refund_reauth_above).routes())
    app.router.add_routes(BookingHandlers(
        checkout, bookings, keys, tickets, catalog, Door(bookings, catalog, tickets),
        app[LINKS], static_url=f"{STATIC_PREFIX}/{app[PAGES].version}").routes())
    app.router.add_routes(simulated.routes())

    # Keys before anything signs or verifies; the mirror rebuilt before the first sale.
    services.add("signing keys reload", keyring)
    services.add("bookings mirror check",
                 Reconciler(bookings, engine, check_s=settings.mirror_check_s))
    services.add("pending expirer", PendingExpirer(checkout, keys, settings.pending_sweep_s))
    services.add("webhook deliveries", started(stop=webhooks.close))
    return services


def _stripe(settings: Settings, services: Lifecycle) -> StripeGateway:
    assert settings.stripe_secret_key and settings.stripe_webhook_secret  # Settings checks
    # One session for every call to Stripe, closed last (services stop in reverse).
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    services.add("stripe client", started(stop=session.close))
    client = stripe_client(session, secret_key=settings.stripe_secret_key,
                           api_base=settings.stripe_api_base,
                           timeout_s=settings.payment_timeout_s)
    return StripeGateway(client, webhook_secret=settings.stripe_webhook_secret,
                         tolerance_s=settings.webhook_tolerance_s)
