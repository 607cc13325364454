"""Memory: resident memory per idle subscribed connection, against a bare aiohttp server.

Each run starts a fresh ``seatserver serve`` (one worker) and a fresh
``bench.bare``, opens 20 connections to each to warm them up (for ours:
subscribed to showtime 1, so the room, its layout and snapshot code exist),
reads each server's RSS with psutil, opens N more idle connections to each
from two load processes (ours: authenticated and subscribed to the same
room; bare: upgraded and held by its read loop, which is what "subscribed"
means there), waits for things to settle and reads RSS again. The figure is
the RSS growth divided by N. Fresh processes each run: memory freed by a
previous run would otherwise be reused and hide the cost. Median of 3 runs.
"""

from __future__ import annotations

import asyncio

from bench.processes import Agent, BareServer, SeatServer, start_agents, stop_all
from bench.report import Row, kib, run_main, say, times
from bench.services import BenchServices, http_session, new_tokens, prepare
from bench.stats import median

WARM = 20
RUNS = 3
SETTLE_S = 1.0


async def subscribe_all(agents: list[Agent], ours: SeatServer, bare: BareServer, n: int,
                        token: str, showtime: int, tag: str) -> None:
    share = n // len(agents)
    await asyncio.gather(*(
        a.call("subscribe", tag=f"{tag}-ours", port=ours.port, n=share, token=token,
               showtime=showtime) for a in agents))
    await asyncio.gather(*(
        a.call("subscribe", tag=f"{tag}-bare", port=bare.port, n=share) for a in agents))


async def one_run(services: BenchServices, agents: list[Agent], n: int) -> tuple[float, float]:
    ours = SeatServer(services.redis_url, services.database_url)
    bare = BareServer()
    try:
        await asyncio.gather(ours.start(), bare.start())
        async with http_session() as http:
            token = (await new_tokens(http, ours.url, 1))[0]
        showtime = services.showtimes[0]
        await subscribe_all(agents, ours, bare, WARM, token, showtime, "warm")
        await asyncio.sleep(SETTLE_S)
        before = ours.rss(), bare.rss()
        await subscribe_all(agents, ours, bare, n, token, showtime, "idle")
        await asyncio.sleep(SETTLE_S)
        after = ours.rss(), bare.rss()
        for tag in ("warm-ours", "warm-bare", "idle-ours", "idle-bare"):
            await asyncio.gather(*(a.call("close", tag=tag) for a in agents))
    finally:
        await stop_all(ours, bare)
    return (after[0] - before[0]) / n, (after[1] - before[1]) / n


async def bench(quick: bool) -> list[Row]:
    say("memory: preparing Redis and PostgreSQL")
    services = await prepare()
    try:
        return await _bench(services, 500 if quick else 10_000)
    finally:
        services.stop()


async def _bench(services: BenchServices, n: int) -> list[Row]:
    agents = await start_agents(2)
    ours_runs, bare_runs = [], []
    try:
        for run in range(RUNS):
            ours, bare = await one_run(services, agents, n)
            ours_runs.append(ours)
            bare_runs.append(bare)
            say(f"  memory run {run + 1}: {n} idle connections, ours {ours / 1024:.1f} KiB "
                f"each, bare {bare / 1024:.1f} KiB each")
    finally:
        await stop_all(*agents)
    ours, bare = median(ours_runs), median(bare_runs)
    return [
        Row(f"memory: RSS per idle subscribed connection ({n:,} connections)", kib(ours),
            f"bare aiohttp {kib(bare)}", times(ours / bare), "≤ 1.5x", ours <= 1.5 * bare),
    ]


if __name__ == "__main__":
    run_main(bench, __doc__)
