"""setup_webhooks: the admin API, the stream collector and the sender."""

from __future__ import annotations

from aiohttp import web

from seatserver.appkeys import DB_POOL, REDIS, SETTINGS
from seatserver.catalog.setup import AUDITOR
from seatserver.lifecycle import Lifecycle, add_feature
from seatserver.webhooks.admin_http import WebhookAdminHandlers
from seatserver.webhooks.collector import EventCollector
from seatserver.webhooks.sender import WebhookSender
from seatserver.webhooks.store import WebhookStore

SENDER = web.AppKey("webhook_sender", WebhookSender)
COLLECTOR = web.AppKey("webhook_collector", EventCollector)


def setup_webhooks(app: web.Application) -> None:
    add_feature(app, _wire)


def _wire(app: web.Application) -> Lifecycle:
    settings = app[SETTINGS]
    app.router.add_routes(WebhookAdminHandlers(
        WebhookStore(app[DB_POOL]), app[AUDITOR],
        allow_local=settings.webhook_allow_local).routes())
    collector = EventCollector(app[DB_POOL], app[REDIS], poll_s=settings.webhook_poll_s)
    sender = WebhookSender(
        app[DB_POOL], poll_s=settings.webhook_poll_s, timeout_s=settings.webhook_timeout_s,
        concurrency=settings.webhook_concurrency, max_attempts=settings.webhook_max_attempts,
        retry_base_s=settings.webhook_retry_base_s, retry_cap_s=settings.webhook_retry_cap_s,
        allow_local=settings.webhook_allow_local)
    app[COLLECTOR], app[SENDER] = collector, sender
    services = Lifecycle()
    services.add("webhook collector", collector)
    services.add("webhook sender", sender)
    return services
