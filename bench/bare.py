"""The bare baseline: the least an aiohttp WebSocket broadcast server can do.

``python -m bench.bare --port P`` serves ``/ws`` (every connection is a
subscriber, held open by a read loop and nothing else) and ``POST /broadcast``,
which stamps an update shaped like ours (same keys, same size) and sends it with
the textbook loop ``for ws in subs: await ws.send_str(msg)``. No auth, no rooms,
no Redis. It runs on the same event loop as our server (uvloop when installed),
so the comparison is between the two programs, not between loops.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from aiohttp import web

from seatserver.serving import LISTEN_BACKLOG

SUBS = web.AppKey("subs", set[web.WebSocketResponse])


async def subscribe(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    subs = request.app[SUBS]
    subs.add(ws)
    try:
        async for _ in ws:
            pass
    finally:
        subs.discard(ws)
    return ws


async def broadcast(request: web.Request) -> web.Response:
    body = await request.json()
    msg = json.dumps({"t": "update", "showtime": body["showtime"], "offset": body["offset"],
                      "seats": body["seats"], "reasons": body["reasons"],
                      "ts": int(time.time() * 1000)}, separators=(",", ":"))
    subscribers: set[web.WebSocketResponse] = request.app[SUBS]
    subs = list(subscribers)
    start = time.perf_counter()
    for ws in subs:
        await ws.send_str(msg)
    took_ms = (time.perf_counter() - start) * 1000
    return web.json_response({"sent": len(subs), "bytes": len(msg), "took_ms": took_ms})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"subscribers": len(request.app[SUBS])})


def make_app() -> web.Application:
    app = web.Application()
    app[SUBS] = set()
    app.router.add_get("/ws", subscribe)
    app.router.add_post("/broadcast", broadcast)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    from bench.agent import raise_fd_limit

    raise_fd_limit()
    try:
        import uvloop
        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_serve(args.port))


async def _serve(port: int) -> None:
    runner = web.AppRunner(make_app(), access_log=None)
    await runner.setup()
    # The same listen backlog as ours.
    await web.TCPSite(runner, "127.0.0.1", port, backlog=LISTEN_BACKLOG).start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    main()
