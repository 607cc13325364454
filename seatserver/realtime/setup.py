"""setup_realtime: the change feed, the rooms, and the WebSocket at /ws."""

from __future__ import annotations

from aiohttp import web

from seatserver.accounts.setup import PROXIES
from seatserver.appkeys import FEED_REDIS, SETTINGS
from seatserver.catalog.setup import CATALOG
from seatserver.changefeed import ChangeFeed
from seatserver.holds.setup import ENGINE, SWEEPER
from seatserver.lifecycle import Lifecycle, add_feature, started
from seatserver.realtime.commands import Commands
from seatserver.realtime.rooms import RoomRegistry
from seatserver.realtime.view import SocketView

FEED = web.AppKey("feed", ChangeFeed)
ROOMS = web.AppKey("rooms", RoomRegistry)
COMMANDS = web.AppKey("commands", Commands)
SOCKETS = web.AppKey("sockets", SocketView)


def setup_realtime(app: web.Application) -> None:
    app.on_shutdown.append(_close_sockets)
    add_feature(app, _wire)


def _wire(app: web.Application) -> Lifecycle:
    settings, engine = app[SETTINGS], app[ENGINE]
    feed = ChangeFeed(app[FEED_REDIS])
    rooms = RoomRegistry(engine, feed, app[CATALOG], app[SWEEPER],
                         summary_interval_s=settings.summary_interval_s)
    commands = Commands(engine, rooms)
    sockets = SocketView(commands, rooms, settings, app[PROXIES])
    app[FEED], app[ROOMS], app[COMMANDS], app[SOCKETS] = feed, rooms, commands, sockets
    app.router.add_get("/ws", sockets.handle)

    services = Lifecycle()
    services.add("change feed", feed)
    services.add("rooms", started(stop=rooms.close))
    return services


async def _close_sockets(app: web.Application) -> None:
    """Tell every client we are going away, so it reconnects elsewhere at once."""
    if SOCKETS in app:  # not when the start failed before the sockets were made
        for conn in list(app[SOCKETS].connections):
            conn.close(1001, "server shutting down")
