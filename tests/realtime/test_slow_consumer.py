"""A subscriber that stops reading is cut off; the others keep receiving."""

from __future__ import annotations

import socket

import aiohttp

from seatserver.loadgen.client import new_session
from seatserver.realtime.setup import SOCKETS
from tests.realtime.conftest import ClientFactory, ServerFactory
from tests.support import client_frame, eventually, raw_websocket


async def test_slow_consumer_is_cut_off_and_others_keep_receiving(
        make_server: ServerFactory, connect: ClientFactory, http: aiohttp.ClientSession,
        showtime: int, seats: list[str]) -> None:
    # Small kernel buffers, so that the server's own bound is reached quickly.
    server = await make_server(send_buffer_limit=64 * 1024, socket_send_buffer=16 * 1024,
                               max_seats=200, rate_per_s=10_000.0, rate_burst=10_000)
    url = str(server.make_url("/")).rstrip("/")
    # A raw socket that completes the upgrade, subscribes and then never reads.
    token = await new_session(http, url)
    _reader, writer = await raw_websocket(server.host, server.port, token)
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    writer.write(client_frame(b'{"op":"subscribe","ref":"1","showtime":%d}' % showtime))
    await writer.drain()

    healthy = await connect(url)
    await healthy.subscribe(showtime)
    buyer = await connect(url)
    stats = server.app[SOCKETS].stats
    # Keep the updates coming until the server gives up on the slow socket.
    for _ in range(3000):
        await buyer.hold(showtime, seats[:90])
        await buyer.release(showtime, seats[:90])
        if stats.too_slow:
            break
    assert stats.too_slow == 1
    await eventually(lambda: not healthy.views[showtime].held, within=5)
    # The healthy subscriber goes on receiving after the cut-off.
    await buyer.hold(showtime, seats[:1])
    await eventually(lambda: healthy.views[showtime].held == {seats[0]}, within=5)
    assert healthy.violations == []
    assert not healthy.closed

    # The server let go of the slow socket (healthy and buyer remain). Reading
    # to its end is no proof here: what the kernels buffered drains slowly
    # through a 4 KiB receive window.
    sockets = server.app[SOCKETS]
    await eventually(lambda: len(sockets.connections) == 2, within=5)
    writer.close()
