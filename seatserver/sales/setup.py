"""setup_sales: the operator's sales reports, exports and seat histories."""

from __future__ import annotations

from aiohttp import web

from seatserver.appkeys import DB_POOL, REDIS, SETTINGS
from seatserver.lifecycle import Lifecycle, add_feature
from seatserver.personal.setup import PERSONAL
from seatserver.sales.history import SeatHistory
from seatserver.sales.http import SalesHandlers
from seatserver.sales.store import SalesStore


def setup_sales(app: web.Application) -> None:
    add_feature(app, _wire)


def _wire(app: web.Application) -> Lifecycle:
    sales = SalesStore(app[DB_POOL], app[PERSONAL])
    history = SeatHistory(sales, app[REDIS], app[SETTINGS].stream_maxlen)
    app.router.add_routes(SalesHandlers(sales, history).routes())
    return Lifecycle()
