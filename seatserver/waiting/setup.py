"""setup_waiting: sale settings, the waiting room's queue and its admitter."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from seatserver.appkeys import DB_POOL, REDIS, SETTINGS
from seatserver.catalog.setup import AUDITOR
from seatserver.lifecycle import Lifecycle, add_feature
from seatserver.waiting.admitter import Admitter
from seatserver.waiting.engine import QueueEngine
from seatserver.waiting.http import SaleHandlers
from seatserver.waiting.store import SaleDefaults, SaleStore

QUEUE = web.AppKey("queue", QueueEngine)
ADMITTER = web.AppKey("admitter", Admitter)


def setup_waiting(app: web.Application) -> None:
    add_feature(app, _wire)


def _wire(app: web.Application) -> Lifecycle:
    settings = app[SETTINGS]
    store = SaleStore(app[DB_POOL], SaleDefaults(
        waiting_room=settings.waiting_room, admission_rate=settings.admission_rate,
        active_cap=settings.active_cap, admission_ttl_s=settings.admission_ttl_s,
        on_sale_before=None if settings.onsale_before_s is None
        else timedelta(seconds=settings.onsale_before_s)))
    queue = QueueEngine(app[REDIS])
    admitter = Admitter(queue, store, interval_s=settings.admit_interval_s)
    app[QUEUE], app[ADMITTER] = queue, admitter
    app.router.add_routes(SaleHandlers(
        store, queue, admitter, app[AUDITOR], on_sale_before_s=settings.onsale_before_s).routes())

    services = Lifecycle()
    services.add("waiting room admitter", admitter)
    return services
