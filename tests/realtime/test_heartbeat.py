"""Heartbeats: a peer that stops answering pings is closed."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from seatserver.loadgen.client import new_session
from seatserver.realtime.setup import SOCKETS
from tests.realtime.conftest import ClientFactory, ServerFactory
from tests.support import eventually, raw_websocket, read_until_closed


async def test_dead_peer_is_closed_by_heartbeat(
        make_server: ServerFactory, http: aiohttp.ClientSession, connect: ClientFactory
        ) -> None:
    server = await make_server(heartbeat_s=0.5)
    url = str(server.make_url("/")).rstrip("/")
    alive = await connect(url)  # answers pings by itself (autoping)
    reader, writer = await raw_websocket(server.host, server.port,
                                         await new_session(http, url))
    sockets = server.app[SOCKETS]
    await eventually(lambda: len(sockets.connections) == 2)
    start = time.monotonic()
    await asyncio.wait_for(read_until_closed(reader), 5)
    assert time.monotonic() - start < 3
    writer.close()
    await eventually(lambda: len(sockets.connections) == 1)
    await asyncio.sleep(1.2)  # a live peer outlasts several heartbeats
    assert (await alive.request("ping"))["t"] == "pong"
