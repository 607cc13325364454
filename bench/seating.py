"""Best available beside plain holds: ``python -m bench --only seating``.

One server process (``serve --workers 1``) on the demo showtimes, half of
each hall held by a long-lived filler (so best available has a hall to choose
in, not an empty one); SOCKETS WebSocket clients in this process spread over
the showtimes, closed loop, each at most RATE_CAP commands/s (under the
server's 20/s per client):

- plain: hold a pair of seats of its own (from the free half), then release it;
- best: ``best: {"count": 2}``, then release the seats it got.

The two alternate run by run (RUNS each, medians); figures: holds acked per
second and the hold ack's p99 (from writing the hold to reading its ack).
Target: best available at least half the plain holds' rate. The demo's
showtimes have the orphan rule off, so plain holds skip the seating checks,
as they do wherever the rules need none; best always reads the geometry.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
from redis.asyncio import Redis

from bench.processes import SeatServer, stop_all
from bench.report import Row, ms, per_s, run_main, say, times
from bench.services import BenchServices, http_session, new_tokens, prepare
from bench.stats import median, percentile
from seatserver.holds import HoldEngine

SOCKETS = 400
RATE_CAP = 18.0
RUNS = 3
FILLED = 0.5

Step = Callable[[aiohttp.ClientWebSocketResponse, int, list[float]], Awaitable[bool]]


async def command(ws: aiohttp.ClientWebSocketResponse, frame: dict[str, Any]
                  ) -> dict[str, Any]:
    await ws.send_str(orjson.dumps(frame).decode())
    while True:
        reply: dict[str, Any] = orjson.loads((await ws.receive()).data)
        if reply.get("t") in ("ack", "error"):
            return reply


def plain(showtime: int, pair: list[str]) -> Step:
    async def step(ws: aiohttp.ClientWebSocketResponse, n: int, lat: list[float]) -> bool:
        began = time.perf_counter()
        ack = await command(ws, {"op": "hold", "ref": n, "showtime": showtime, "seats": pair})
        lat.append((time.perf_counter() - began) * 1000)
        if not ack.get("ok"):
            return False
        await command(ws, {"op": "release", "ref": n, "showtime": showtime, "seats": pair})
        return True
    return step


def best(showtime: int) -> Step:
    async def step(ws: aiohttp.ClientWebSocketResponse, n: int, lat: list[float]) -> bool:
        began = time.perf_counter()
        ack = await command(ws, {"op": "hold", "ref": n, "showtime": showtime,
                                 "best": {"count": 2}})
        lat.append((time.perf_counter() - began) * 1000)
        if not ack.get("ok"):
            return False
        await command(ws, {"op": "release", "ref": n, "showtime": showtime,
                           "seats": ack["seats"]})
        return True
    return step


async def run(sockets: list[aiohttp.ClientWebSocketResponse], steps: list[Step],
              warmup: float, duration: float) -> tuple[float, float, int]:
    """Holds acked per second, hold ack p99 (ms) and refusals, over ``duration``."""
    start = time.monotonic()
    measured_from, until = start + warmup, start + warmup + duration
    counts, refused, lat = [0], [0], []

    async def client(ws: aiohttp.ClientWebSocketResponse, step: Step) -> None:
        n = 0
        while (now := time.monotonic()) < until:
            mine: list[float] = []
            ok = await step(ws, n, mine)
            n += 1
            if now >= measured_from:
                counts[0] += ok
                refused[0] += not ok
                lat.extend(mine)
            pause = 2 / RATE_CAP - (time.monotonic() - now)
            if pause > 0:
                await asyncio.sleep(pause)

    await asyncio.gather(*(client(ws, step) for ws, step in zip(sockets, steps, strict=True)))
    return counts[0] / duration, percentile(lat, 99), refused[0]


async def fill(services: BenchServices) -> dict[int, list[str]]:
    """Hold the first half of each showtime's seats for an hour; the rest, free."""
    redis = Redis.from_url(services.redis_url)
    engine = HoldEngine(redis, hold_ttl_ms=3_600_000, max_seats=10_000, stream_maxlen=10_000,
                        backstop_ms=5_000)
    free = {}
    try:
        for showtime in services.showtimes:
            seats = services.seats[showtime]
            cut = int(len(seats) * FILLED)
            await engine.hold(showtime, "filler", seats[:cut])
            free[showtime] = seats[cut:]
    finally:
        await engine.close()
        await redis.aclose()
    return free


async def bench(quick: bool) -> list[Row]:
    warmup, duration = (0.5, 1.5) if quick else (1.0, 3.0)
    services = await prepare()
    server = SeatServer(services.redis_url, services.database_url)
    try:
        await server.start()
        free = await fill(services)
        async with http_session() as http:
            tokens = await new_tokens(http, server.url, SOCKETS)
            sockets = [await http.ws_connect(f"{server.url}/ws",
                                             headers={"Authorization": f"Bearer {t}"},
                                             autoping=True) for t in tokens]
            shows = services.showtimes
            plain_steps, best_steps = [], []
            for i in range(SOCKETS):
                showtime = shows[i % len(shows)]
                k = i // len(shows)
                plain_steps.append(plain(showtime, free[showtime][2 * k:2 * k + 2]))
                best_steps.append(best(showtime))
            results: dict[str, list[tuple[float, float, int]]] = {"plain": [], "best": []}
            for r in range(RUNS):
                for name, steps in (("plain", plain_steps), ("best", best_steps)):
                    results[name].append(await run(sockets, steps, warmup, duration))
                    rate, p99, refused = results[name][-1]
                    say(f"  run {r + 1} {name}: {rate:,.0f} holds/s, ack p99 {p99:.2f} ms, "
                        f"{refused} refused")
            for ws in sockets:
                await ws.close()
    finally:
        await stop_all(server)
        services.stop()
    rate = {k: median([r[0] for r in v]) for k, v in results.items()}
    p99 = {k: median([r[1] for r in v]) for k, v in results.items()}
    return [
        Row(f"seating: best-available holds/s (count 2, then released; {SOCKETS} sockets, "
            f"{len(services.showtimes)} showtimes half full, 1 worker)", per_s(rate["best"]),
            f"plain holds of a pair, same run: {per_s(rate['plain'])}",
            times(rate["best"] / rate["plain"]), "≥ 0.50x",
            rate["best"] >= 0.5 * rate["plain"],
            note="each socket at most 18 commands/s; both figures share the load "
                 "process's limits"),
        Row("seating: best-available hold ack p99 (same runs)", ms(p99["best"]),
            f"plain {ms(p99['plain'])}", times(p99["best"] / p99["plain"]), "", None),
    ]


if __name__ == "__main__":
    run_main(bench, __doc__)
