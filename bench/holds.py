"""Holds: peak hold/release throughput over WebSocket, and hold round trip under load.

1. Ceiling: ``bench.raw`` (raw redis-py EVALSHA of the same hold and release
   scripts, one process) at the best of several concurrencies.
2. Ours: ``seatserver serve`` (one worker: one process, like the ceiling);
   800 sockets in 2 load processes, each its own guest and its own seat,
   spread over 8 showtimes, each alternating hold and release of that seat
   as fast as acks come back (capped at 18 commands/s per socket, under the
   server's 20/s per-client limit, so at most 14,400/s in all). No
   subscribers: this is the hold path alone, as the ceiling is. Figure: acked
   commands per second.
3. Round trip: 1,000 holds/s (and as many releases, each 0.5 s after its
   hold) paced open-loop by 200 sockets into showtime 1, whose room has 100
   subscribers in two other load processes; p50/p99 of hold acks, timed from
   when each hold was due.

Medians of 3 runs each (quick: shorter runs).
"""

from __future__ import annotations

import asyncio
import json
import sys

from bench.machine import CpuMeter
from bench.processes import Agent, SeatServer, start_agents, stop_all
from bench.report import Row, ms, per_s, run_main, say, times
from bench.services import BenchServices, http_session, new_tokens, prepare
from bench.stats import median, percentile

RAW_CONCURRENCY = (8, 32, 128)
PEAK_SOCKETS = 800
PEAK_RATE_CAP = 18.0
PACED_SOCKETS = 200
PACED_HOLDS_PER_S = 1000
ROOM_SUBSCRIBERS = 100
RUNS = 3


async def raw_ceiling(services: BenchServices, duration: float) -> tuple[float, int]:
    """The best concurrency's median over RUNS runs: (commands/s, concurrency)."""
    best = (0.0, 0)
    for concurrency in RAW_CONCURRENCY:
        results = []
        for _ in range(RUNS):
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.raw", "--redis-url", services.redis_url,
                "--concurrency", str(concurrency), "--duration", str(duration),
                "--showtimes", ",".join(map(str, services.showtimes)),
                stdout=asyncio.subprocess.PIPE)
            out, _ = await proc.communicate()
            if proc.returncode != 0:
                raise RuntimeError(f"bench.raw failed with {proc.returncode}")
            results.append(json.loads(out)["ops_per_s"])
        say(f"  raw EVALSHA, {concurrency} concurrent: {median(results):,.0f}/s "
            f"(runs {', '.join(f'{r:,.0f}' for r in results)})")
        best = max(best, (median(results), concurrency))
    await services.flush_redis()
    return best


async def open_holders(agents: list[Agent], server: SeatServer, tokens: list[str],
                       seats: list[tuple[int, str]], tag: str) -> None:
    specs = [{"token": t, "showtime": s, "seat": seat}
             for t, (s, seat) in zip(tokens, seats, strict=True)]
    share = len(specs) // len(agents)
    await asyncio.gather(*(
        a.call("open_holders", tag=tag, port=server.port,
               holders=specs[i * share:(i + 1) * share])
        for i, a in enumerate(agents)))


async def peak(agents: list[Agent], server: SeatServer, services: BenchServices,
               tokens: list[str], warmup: float, duration: float) -> list[float]:
    per_showtime = PEAK_SOCKETS // len(services.showtimes)
    seats = [(s, seat) for s in services.showtimes
             for seat in services.seats[s][:per_showtime]]
    await open_holders(agents, server, tokens, seats, "peak")
    results = []
    for run in range(RUNS):
        replies = await asyncio.gather(*(
            a.call("closed_loop", tag="peak", max_rate_per_client=PEAK_RATE_CAP,
                   warmup=warmup, duration=duration) for a in agents))
        rate = sum(r["ops_per_s"] for r in replies)
        errors = _merge_errors(replies)
        say(f"  peak over WebSocket, run {run + 1}: {rate:,.0f}/s"
            + (f", refused: {errors}" if errors else ""))
        if errors:
            raise RuntimeError(f"holds were refused during the peak run: {errors}")
        if rate > 0.9 * PEAK_SOCKETS * PEAK_RATE_CAP:
            raise RuntimeError("the clients' own rate cap limited the peak: add sockets")
        results.append(rate)
    await asyncio.gather(*(a.call("close", tag="peak") for a in agents))
    return results


async def paced(holders: list[Agent], crowd: list[Agent], server: SeatServer,
                services: BenchServices, tokens: list[str], warmup: float, duration: float
                ) -> tuple[list[float], list[float], int]:
    showtime = services.showtimes[0]
    share = ROOM_SUBSCRIBERS // len(crowd)
    await asyncio.gather(*(
        a.call("subscribe", tag="room", port=server.port, n=share, token=tokens[0],
               showtime=showtime) for a in crowd))
    seats = [(showtime, seat) for seat in services.seats[showtime][:PACED_SOCKETS]]
    await open_holders(holders, server, tokens[1:PACED_SOCKETS + 1], seats, "paced")
    # Each socket alternates hold and release: it sends 2 commands per hold.
    rate = 2 * PACED_HOLDS_PER_S / PACED_SOCKETS
    p50s, p99s, updates = [], [], 0
    for run in range(RUNS):
        await asyncio.gather(*(a.call("reset", tag="room") for a in crowd))
        replies = await asyncio.gather(*(
            a.call("paced", tag="paced", rate_per_client=rate, warmup=warmup,
                   duration=duration) for a in holders))
        errors = _merge_errors(replies)
        acks = [v for r in replies for v in r["hold_ms"]]
        got = await asyncio.gather(*(a.call("delays", tag="room") for a in crowd))
        updates = sum(g["updates"] for g in got) // ROOM_SUBSCRIBERS
        p50s.append(percentile(acks, 50))
        p99s.append(percentile(acks, 99))
        say(f"  paced {PACED_HOLDS_PER_S} holds/s, run {run + 1}: {len(acks)} holds "
            f"({len(acks) / duration:,.0f}/s), p50 {p50s[-1]:.2f} ms, p99 {p99s[-1]:.2f} ms; "
            f"{updates} updates per subscriber"
            + (f"; refused: {errors}" if errors else ""))
        if errors:
            raise RuntimeError(f"holds were refused during the paced run: {errors}")
    await asyncio.gather(*(a.call("close", tag="paced") for a in holders),
                         *(a.call("close", tag="room") for a in crowd))
    return p50s, p99s, updates


def _merge_errors(replies: list[dict]) -> dict[str, int]:  # type: ignore[type-arg]
    merged: dict[str, int] = {}
    for reply in replies:
        for code, n in reply["errors"].items():
            merged[code] = merged.get(code, 0) + n
    return merged


async def bench(quick: bool) -> list[Row]:
    warmup, duration = (0.5, 1.5) if quick else (1.0, 3.0)
    say("holds: preparing Redis and PostgreSQL")
    services = await prepare()
    try:
        return await _bench(services, warmup, duration)
    finally:
        services.stop()


async def _bench(services: BenchServices, warmup: float, duration: float) -> list[Row]:
    say(f"holds: ceiling, raw EVALSHA ({services.describe()})")
    ceiling, best_concurrency = await raw_ceiling(services, duration)
    server = SeatServer(services.redis_url, services.database_url)
    agents = await start_agents(4)
    meter = CpuMeter()
    try:
        await server.start()
        async with http_session() as http:
            tokens = await new_tokens(http, server.url, PEAK_SOCKETS + 1)
        say("holds: peak over WebSocket, one worker")
        peaks = await peak(agents[:2], server, services, tokens[1:], warmup, duration)
        await services.flush_redis()
        say("holds: round trip at a paced rate into a room of 100")
        p50s, p99s, _ = await paced(agents[:2], agents[2:], server, services, tokens,
                                    warmup, duration + 2)
        cpu = meter.read()
    finally:
        await stop_all(server, *agents)
    ours = median(peaks)
    return [
        Row(f"holds: peak hold+release commands/s over WS (1 worker, {PEAK_SOCKETS} sockets, "
            f"{len(services.showtimes)} showtimes, no subscribers)",
            per_s(ours), f"raw EVALSHA {per_s(ceiling)} (concurrency {best_concurrency})",
            times(ours / ceiling), "≥ 0.50x", ours / ceiling >= 0.5,
            note=f"other jobs used {cpu.others:.2f} cores meanwhile"),
        Row(f"holds: hold ack p99 at {PACED_HOLDS_PER_S:,} holds/s (+ as many releases), "
            f"room of {ROOM_SUBSCRIBERS} subscribers", ms(median(p99s)),
            "", "", "≤ 5 ms", median(p99s) <= 5.0, note=f"p50 {ms(median(p50s))}"),
    ]


if __name__ == "__main__":
    run_main(bench, __doc__)
