"""setup_catalog: movies, theaters, screens and showtimes, to browse and to edit."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from seatserver.accounts.setup import PROXIES
from seatserver.appkeys import DB_POOL, SETTINGS
from seatserver.audit import AuditStore
from seatserver.catalog.admin import CatalogAdminStore
from seatserver.catalog.admin_http import Auditor, CatalogAdminHandlers
from seatserver.catalog.availability import Availability
from seatserver.catalog.http import CatalogHandlers
from seatserver.catalog.import_http import MovieImportHandlers
from seatserver.catalog.import_store import MovieImportStore
from seatserver.catalog.store import CatalogStore
from seatserver.holds.setup import ENGINE
from seatserver.lifecycle import Lifecycle, add_feature

CATALOG = web.AppKey("catalog", CatalogStore)
# The one writer of staff actions to the audit log, for every feature's admin routes.
AUDITOR = web.AppKey("auditor", Auditor)


def setup_catalog(app: web.Application) -> None:
    app[CATALOG] = CatalogStore(
        app[DB_POOL], sales_close=timedelta(minutes=app[SETTINGS].sales_close_min))
    app[AUDITOR] = Auditor(AuditStore(app[DB_POOL]), app[PROXIES])
    add_feature(app, _wire)


def _wire(app: web.Application) -> Lifecycle:
    catalog = app[CATALOG]
    app.router.add_routes(CatalogHandlers(catalog, Availability(app[ENGINE], catalog)).routes())
    app.router.add_routes(CatalogAdminHandlers(
        CatalogAdminStore(app[DB_POOL], catalog), app[AUDITOR]).routes())
    app.router.add_routes(MovieImportHandlers(
        MovieImportStore(app[DB_POOL], catalog), app[AUDITOR]).routes())
    return Lifecycle()
