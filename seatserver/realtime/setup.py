"""setup_realtime: the change feed, the rooms, and the WebSocket at /ws."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from seatserver.accounts.setup import PROXIES
from seatserver.appkeys import FEED_REDIS, SETTINGS
from seatserver.catalog.setup import CATALOG
from seatserver.changefeed import ChangeFeed
from seatserver.holds.setup import ENGINE, SWEEPER
from seatserver.lifecycle import Lifecycle, add_feature, started
from seatserver.realtime.budget import FanoutBudget
from seatserver.realtime.commands import Commands
from seatserver.realtime.rooms import RoomRegistry
from seatserver.realtime.view import SocketView
from seatserver.realtime.waiters import WaiterRegistry
from seatserver.waiting.setup import ADMITTER, QUEUE

FEED = web.AppKey("feed", ChangeFeed)
ROOMS = web.AppKey("rooms", RoomRegistry)
COMMANDS = web.AppKey("commands", Commands)
SOCKETS = web.AppKey("sockets", SocketView)
WAITERS = web.AppKey("waiters", WaiterRegistry)


def setup_realtime(app: web.Application) -> None:
    app.on_shutdown.append(_close_sockets)
    add_feature(app, _wire)


def _wire(app: web.Application) -> Lifecycle:
    settings, engine = app[SETTINGS], app[ENGINE]
    feed = ChangeFeed(app[FEED_REDIS])
    rooms = RoomRegistry(engine, feed, app[CATALOG], app[SWEEPER],
                         summary_interval_s=settings.summary_interval_s,
                         budget=FanoutBudget(settings.fanout_budget))
    waiters = WaiterRegistry(app[QUEUE], update_s=settings.queue_update_s,
                             may_gate=app[ADMITTER].may_gate)
    commands = Commands(engine, rooms, waiters)
    sockets = SocketView(commands, rooms, settings, app[PROXIES], waiters)
    app[FEED], app[ROOMS], app[COMMANDS], app[SOCKETS] = feed, rooms, commands, sockets
    app[WAITERS] = waiters
    app.router.add_get("/ws", sockets.handle)

    services = Lifecycle()
    services.add("change feed", feed)
    services.add("rooms", started(stop=rooms.close))
    services.add("waiting room positions", started(_start(waiters), waiters.stop))
    return services


async def _close_sockets(app: web.Application) -> None:
    """Tell every client we are going away, so it reconnects elsewhere at once."""
    if SOCKETS in app:  # not when the start failed before the sockets were made
        for conn in list(app[SOCKETS].connections):
            conn.close(1001, "server shutting down")


def _start(waiters: WaiterRegistry) -> Callable[[], Awaitable[None]]:
    async def start() -> None:
        waiters.start()

    return start
