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


async def first_ping(reader: asyncio.StreamReader) -> float:
    """When (monotonic) the first ping frame arrives on a raw socket that
    sends nothing, so that nothing but the heartbeat writes to it."""
    while True:
        head = await reader.readexactly(2)
        length = head[1] & 0x7F
        if length == 126:
            length = int.from_bytes(await reader.readexactly(2), "big")
        elif length == 127:
            length = int.from_bytes(await reader.readexactly(8), "big")
        await reader.readexactly(length)
        if head[0] & 0x0F == 0x9:
            return time.monotonic()


async def test_pings_go_out_as_each_socket_connected_not_together_on_the_second(
        make_server: ServerFactory, http: aiohttp.ClientSession) -> None:
    """aiohttp rounds timers longer than 5 s up to the whole second, so that
    every socket's heartbeat fell due on the same ticks: a room of 10,000
    pinged ~500 sockets in one loop iteration each second. Two sockets
    connected half a second apart get their pings half a second apart."""
    heartbeat = 5.5  # past aiohttp's 5 s rounding threshold
    server = await make_server(heartbeat_s=heartbeat)
    token = await new_session(http, str(server.make_url("/")).rstrip("/"))
    opened, pinged = [], []
    sockets = []
    for _ in range(2):
        opened.append(time.monotonic())
        reader, writer = await raw_websocket(server.host, server.port, token)
        sockets.append((reader, writer))
        await asyncio.sleep(0.5)
    try:
        pinged = await asyncio.wait_for(
            asyncio.gather(*(first_ping(reader) for reader, _ in sockets)), 3 * heartbeat)
    finally:
        for _, writer in sockets:
            writer.close()
    for at, ping in zip(opened, pinged, strict=True):
        assert heartbeat - 0.1 <= ping - at <= heartbeat + 0.4, (ping - at)
    assert 0.3 <= pinged[1] - pinged[0] <= 0.8, pinged
