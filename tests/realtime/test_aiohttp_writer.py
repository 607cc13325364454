"""What the direct transport writes rely on in aiohttp (pinned in pyproject.toml).

``Connection.write`` puts our frames straight into the socket's transport,
beside aiohttp's own frames (pong, ping, close). That is safe only while
aiohttp writes an uncompressed frame whole, before its first await: were its
writer to queue frames or yield mid-frame, its frames and ours could
interleave or reorder on the wire. These tests fail when a new aiohttp
stops doing so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient

Client = TestClient[Any, Any]

LARGE = b"x" * 70_000  # past aiohttp's one-write size and the 64 KiB length form


def written_at_once(step: Coroutine[Any, Any, None]) -> bool:
    """Runs one aiohttp send until its first suspension; True when it finished."""
    try:
        step.send(None)
    except StopIteration:
        return True
    step.close()
    return False


async def test_aiohttp_writes_uncompressed_frames_before_any_await(
        aiohttp_client: Callable[[web.Application], Awaitable[Client]]) -> None:
    finished: dict[str, bool] = {}

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)  # as realtime/view.py makes them
        await ws.prepare(request)
        finished["text"] = written_at_once(ws.send_str("small"))
        finished["large"] = written_at_once(ws.send_bytes(LARGE))
        finished["ping"] = written_at_once(ws.ping(b"i"))
        finished["pong"] = written_at_once(ws.pong(b"o"))
        await ws.receive()  # the client's close
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    client = await aiohttp_client(app)
    async with client.ws_connect("/ws", autoping=False) as ws:
        received = [await ws.receive() for _ in range(4)]

    assert finished == {"text": True, "large": True, "ping": True, "pong": True}
    assert [(m.type, m.data) for m in received] == [
        (WSMsgType.TEXT, "small"), (WSMsgType.BINARY, LARGE),
        (WSMsgType.PING, b"i"), (WSMsgType.PONG, b"o")]
