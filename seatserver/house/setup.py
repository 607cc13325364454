"""setup_house: house seats (blocked off online sale) and the box office's counter."""

from __future__ import annotations

from aiohttp import web

from seatserver.accounts.setup import PROXIES
from seatserver.appkeys import DB_POOL
from seatserver.bookings.idempotency import IdempotencyStore
from seatserver.catalog.setup import CATALOG
from seatserver.holds.setup import ENGINE
from seatserver.house.counter import Counter
from seatserver.house.http import HouseHandlers
from seatserver.house.seats import HouseSeats
from seatserver.house.store import HouseStore
from seatserver.lifecycle import Lifecycle, add_feature
from seatserver.personal.setup import PERSONAL


def setup_house(app: web.Application) -> None:
    add_feature(app, _wire)


def _wire(app: web.Application) -> Lifecycle:
    pool, engine, catalog = app[DB_POOL], app[ENGINE], app[CATALOG]
    store = HouseStore(pool, app[PERSONAL])
    app.router.add_routes(HouseHandlers(
        HouseSeats(store, engine, catalog), Counter(store, engine, catalog),
        IdempotencyStore(pool, app[PERSONAL]), app[PROXIES]).routes())
    return Lifecycle()
