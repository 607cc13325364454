"""setup_holds: the hold engine and the expiry sweeper, on the app's Redis."""

from __future__ import annotations

from aiohttp import web

from seatserver.appkeys import REDIS, SETTINGS
from seatserver.holds.engine import HoldEngine
from seatserver.holds.sweeper import ExpirySweeper
from seatserver.lifecycle import Lifecycle, add_feature, started

ENGINE = web.AppKey("engine", HoldEngine)
SWEEPER = web.AppKey("sweeper", ExpirySweeper)


def setup_holds(app: web.Application) -> None:
    add_feature(app, _wire)


def _wire(app: web.Application) -> Lifecycle:
    settings = app[SETTINGS]
    engine = HoldEngine(
        app[REDIS],
        hold_ttl_ms=settings.hold_ttl_s * 1000,
        hold_max_ms=settings.hold_limit_s * 1000,
        max_seats=settings.max_seats,
        stream_maxlen=settings.stream_maxlen,
        backstop_ms=settings.backstop_ms,
        longest_hold_ms=settings.payment_window_s * 1000,
        max_seats_per_address=settings.max_seats_per_address,
    )
    sweeper = ExpirySweeper(engine)
    app[ENGINE] = engine
    app[SWEEPER] = sweeper

    services = Lifecycle()
    services.add("hold engine", started(stop=engine.close))
    services.add("expiry sweeper", started(sweeper.start, sweeper.stop))
    return services
