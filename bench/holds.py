"""Holds: peak hold/release throughput over WebSocket, and hold round trip under load.

1. Ceiling: ``bench.raw`` (raw redis-py EVALSHA of the same hold and release
   scripts, one process) at the best of several concurrencies (one run of
   each finds it); each run of ours follows a run of the ceiling at it.
   For comparison, also a raw client that pipelines its scripts (32 holds and
   their releases per pipeline, 2 tasks), as the server's ScriptBatcher does.
2. Ours: ``seatserver serve`` (one worker: one process, like the ceiling);
   1,200 sockets in 2 load processes, each its own guest and its own seat,
   spread over 16 showtimes, each alternating hold and release of that seat
   as fast as acks come back (capped at 18 commands/s per socket, under the
   server's 20/s per-client limit, so at most 21,600/s in all). No
   subscribers: this is the hold path alone, as the ceiling is. Figure: acked
   commands per second. The same against ``serve --workers 2`` (two processes
   sharing the port, other sockets on other seats), run by run in turn. Each
   run also measures the CPU that the server, the load processes and Redis
   spent per command: on 2 cores they bound what 2 workers can reach. Then,
   where cgroups allow (bench.cpucap), the same pair of runs with each server
   process capped at 0.4 cores, which leaves the load and Redis a core.
3. Round trip: 1,000 holds/s (and as many releases, each 0.1 s after its
   hold) paced open-loop by 200 sockets into showtime 1, whose room has 100
   subscribers in two other load processes; p50/p99 of hold acks, timed from
   writing each hold (also given: from when it was due, which adds the
   sender's own lateness). The load processes run 5 steps of CPU priority
   below the server (see PACED_NICE); 5 runs.

Medians of 3 runs each, unless said otherwise (quick: shorter runs); a run during which other jobs
on the machine used more than 0.3 cores is repeated (see bench.machine).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field

from bench import cpucap
from bench.machine import Noise, quiet
from bench.processes import Agent, SeatServer, cpu_seconds, start_agents, stop_all
from bench.report import Row, ms, per_s, run_main, say, times
from bench.services import (
    BenchServices,
    bucket_share_over,
    http_session,
    metrics,
    new_tokens,
    prepare,
)
from bench.stats import median, percentile

RAW_CONCURRENCY = (8, 32, 128)
PEAK_SOCKETS = 1200
PEAK_RATE_CAP = 18.0
# The pipelining ceiling (for comparison): tasks, and holds per pipeline.
PIPELINE_TASKS = 2
PIPELINE = 32
PACED_SOCKETS = 200
PACED_HOLDS_PER_S = 1000
ROOM_SUBSCRIBERS = 100
RUNS = 3
# The round trip's p99 swings by a millisecond or more from run to run here:
# more runs for its median.
PACED_RUNS = 5
# How many steps of CPU priority the load processes of the round-trip runs sit
# below the server. Four load processes, the server and Redis share 2 cores;
# at the same priority, the server and Redis waited for a core ~10% of the
# time (their run-queue delay, /proc/PID/schedstat), which is this machine's
# crowding, not the server's hold path. Lower priority lets the server and
# Redis run first when they wake; an agent's own delay in reading an ack still
# counts against the server.
PACED_NICE = 5
# Each server process's CPU cap in the capped runs: with two workers, 0.8 of
# the machine's 2 cores, leaving the rest to the load, Redis and the kernel.
CAP_CORES = 0.4
# A bucket bound of the server's seatserver_command_seconds, as exported.
SERVER_BOUND = "0.005"
STALL_METRIC = "seatserver_loop_stalls_over_100ms_total"
LAG_METRIC = "seatserver_loop_lag_max_ms"


async def raw_once(services: BenchServices, concurrency: int, duration: float,
                   pipeline: int = 0) -> float:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.raw", "--redis-url", services.redis_url,
        "--concurrency", str(concurrency), "--duration", str(duration),
        "--showtimes", ",".join(map(str, services.showtimes)),
        "--pipeline", str(pipeline), stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"bench.raw failed with {proc.returncode}")
    rate: float = json.loads(out)["ops_per_s"]
    return rate


async def best_concurrency(services: BenchServices, duration: float, noise: Noise) -> int:
    rates = {}
    for concurrency in RAW_CONCURRENCY:
        rates[concurrency] = await quiet(
            lambda c=concurrency: raw_once(services, c, duration), noise)  # type: ignore[misc]
        say(f"  raw EVALSHA, {concurrency} concurrent: {rates[concurrency]:,.0f}/s")
    await services.flush_redis()
    return max(rates, key=rates.__getitem__)


async def open_holders(agents: list[Agent], server: SeatServer, tokens: list[str],
                       seats: list[tuple[int, str]], tag: str) -> None:
    specs = [{"token": t, "showtime": s, "seat": seat}
             for t, (s, seat) in zip(tokens, seats, strict=True)]
    share = len(specs) // len(agents)
    await asyncio.gather(*(
        a.call("open_holders", tag=tag, port=server.port,
               holders=specs[i * share:(i + 1) * share])
        for i, a in enumerate(agents)))


@dataclass
class PeakRun:
    """One closed-loop run against one server: its rate, and who used the CPU."""

    rate: float
    seconds: float
    server: float  # CPU seconds of the server's processes
    load: float  # of the load processes
    redis: float  # of the Redis server (0 when it is not on this machine)

    def cores(self, cpu: float) -> float:
        return cpu / self.seconds

    def us_per_command(self, cpu: float) -> float:
        return cpu / self.seconds / self.rate * 1e6


@dataclass
class PeakResults:
    raws: list[float] = field(default_factory=list)
    pipelined: list[float] = field(default_factory=list)
    # By number of workers: uncapped runs, and runs with each worker capped.
    runs: dict[int, list[PeakRun]] = field(default_factory=dict)
    capped: dict[int, list[PeakRun]] = field(default_factory=dict)

    def rate(self, workers: int, capped: bool = False) -> float:
        return median([r.rate for r in (self.capped if capped else self.runs)[workers]])

    def per_command(self, workers: int, part: str) -> float:
        """Median CPU µs per command of ``part`` (server, load, redis)."""
        return median([r.us_per_command(getattr(r, part)) for r in self.runs[workers]])

    def cores(self, workers: int, part: str) -> float:
        return median([r.cores(getattr(r, part)) for r in self.runs[workers]])


async def _peak_run(agents: list[Agent], server: SeatServer, tag: str, redis_pid: int | None,
                    warmup: float, duration: float) -> PeakRun:
    """One closed-loop run of the sockets tagged ``tag`` against ``server``."""
    def cpu() -> tuple[float, float, float]:
        return (server.cpu_seconds(), sum(a.cpu_seconds() for a in agents),
                cpu_seconds(redis_pid) if redis_pid else 0.0)

    before, began = cpu(), time.monotonic()
    replies = await asyncio.gather(*(
        a.call("closed_loop", tag=tag, max_rate_per_client=PEAK_RATE_CAP, warmup=warmup,
               duration=duration) for a in agents))
    # CPU over the whole run (warm-up included), against the same span.
    took, after = time.monotonic() - began, cpu()
    errors = _merge_errors(replies)
    if errors:
        raise RuntimeError(f"holds were refused during the peak run: {errors}")
    rate = float(sum(r["ops_per_s"] for r in replies))
    if rate > 0.9 * PEAK_SOCKETS * PEAK_RATE_CAP:
        raise RuntimeError("the clients' own rate cap limited the peak: add sockets")
    server_cpu, load_cpu, redis_cpu = (a - b for a, b in zip(after, before, strict=True))
    return PeakRun(rate, took, server_cpu, load_cpu, redis_cpu)


async def peak(agents: list[Agent], servers: dict[int, SeatServer], services: BenchServices,
               tokens: list[str], concurrency: int, warmup: float, duration: float,
               noise: Noise) -> PeakResults:
    """Runs of the WebSocket peak of each server (by its number of workers),
    each right after a run of its ceilings; then the same with each server
    process capped at CAP_CORES (when this machine lets us cap)."""
    per_showtime = PEAK_SOCKETS // len(services.showtimes)
    for i, (workers, server) in enumerate(servers.items()):
        # Each server's sockets hold seats of their own, so they never meet.
        seats = [(s, seat) for s in services.showtimes
                 for seat in services.seats[s][i * per_showtime:(i + 1) * per_showtime]]
        await open_holders(agents, server, tokens[i * PEAK_SOCKETS:(i + 1) * PEAK_SOCKETS],
                           seats, f"peak{workers}")
    redis_pid = await services.redis_pid()

    async def ours(workers: int) -> PeakRun:
        return await _peak_run(agents, servers[workers], f"peak{workers}", redis_pid,
                               warmup, duration)

    async def capped(workers: int) -> PeakRun:
        with cpucap.capped(servers[workers].worker_pids(), CAP_CORES):
            return await ours(workers)

    results = PeakResults(runs={w: [] for w in servers})
    for run in range(RUNS):
        results.raws.append(
            await quiet(lambda: raw_once(services, concurrency, duration), noise))
        results.pipelined.append(await quiet(
            lambda: raw_once(services, PIPELINE_TASKS, duration, PIPELINE), noise))
        for workers in servers:
            results.runs[workers].append(
                await quiet(lambda w=workers: ours(w), noise))  # type: ignore[misc]
        say(f"  run {run + 1}: raw EVALSHA ({concurrency} concurrent) "
            f"{results.raws[-1]:,.0f}/s, pipelined {results.pipelined[-1]:,.0f}/s, over "
            "WebSocket " + ", ".join(_describe(w, r[-1]) for w, r in results.runs.items()))
    if cpucap.available():
        results.capped = {w: [] for w in servers}
        for run in range(RUNS):
            for workers in servers:
                results.capped[workers].append(
                    await quiet(lambda w=workers: capped(w), noise))  # type: ignore[misc]
            say(f"  run {run + 1}, each server process capped at {CAP_CORES:g} cores: "
                + ", ".join(_describe(w, r[-1]) for w, r in results.capped.items()))
    for workers in servers:
        await asyncio.gather(*(a.call("close", tag=f"peak{workers}") for a in agents))
    await services.flush_redis()
    return results


def _describe(workers: int, run: PeakRun) -> str:
    return (f"{workers} worker{'s' if workers > 1 else ''} {run.rate:,.0f}/s (server "
            f"{run.cores(run.server):.2f} cores, load {run.cores(run.load):.2f}, Redis "
            f"{run.cores(run.redis):.2f})")


async def paced(holders: list[Agent], crowd: list[Agent], server: SeatServer,
                services: BenchServices, tokens: list[str], warmup: float, duration: float,
                noise: Noise, *, nice: int, runs: int
                ) -> tuple[list[float], list[float], list[float], list[float]]:
    showtime = services.showtimes[0]
    for agent in [*holders, *crowd]:
        agent.renice(nice)
    share = ROOM_SUBSCRIBERS // len(crowd)
    await asyncio.gather(*(
        a.call("subscribe", tag="room", port=server.port, n=share, token=tokens[0],
               showtime=showtime) for a in crowd))
    seats = [(showtime, seat) for seat in services.seats[showtime][:PACED_SOCKETS]]
    await open_holders(holders, server, tokens[1:PACED_SOCKETS + 1], seats, "paced")
    # Each socket alternates hold and release: it sends 2 commands per hold.
    rate = 2 * PACED_HOLDS_PER_S / PACED_SOCKETS
    p50s, p99s, due99s, server_over = [], [], [], []

    async def one_run() -> tuple[list[float], list[float]]:
        await asyncio.gather(*(a.call("reset", tag="room") for a in crowd))
        async with http_session() as http:
            before = await metrics(http, server.url)
            replies = await asyncio.gather(*(
                a.call("paced", tag="paced", rate_per_client=rate, warmup=warmup,
                       duration=duration) for a in holders))
            after = await metrics(http, server.url)
        # The server's own view (from a parsed hold to its ack written), which
        # leaves out the time the ack and the hold spend in sockets and queues.
        over, _ = bucket_share_over(before, after, "seatserver_command_seconds", 'op="hold"',
                                    SERVER_BOUND)
        server_over.append(over)
        errors = _merge_errors(replies)
        if errors:
            raise RuntimeError(f"holds were refused during the paced run: {errors}")
        got = await asyncio.gather(*(a.call("delays", tag="room") for a in crowd))
        updates = sum(g["updates"] for g in got) / ROOM_SUBSCRIBERS
        acks = [v for r in replies for v in r["hold_ms"]]
        from_due = [v for r in replies for v in r["hold_due_ms"]]
        say(f"  paced {PACED_HOLDS_PER_S} holds/s: {len(acks) / duration:,.0f} holds/s "
            f"measured, {updates / (warmup + duration):.0f} updates/s per subscriber")
        return acks, from_due

    for run in range(runs):
        acks, from_due = await quiet(one_run, noise)
        p50s.append(percentile(acks, 50))
        p99s.append(percentile(acks, 99))
        due99s.append(percentile(from_due, 99))
        say(f"  run {run + 1}: hold ack p50 {p50s[-1]:.2f} ms, p99 {p99s[-1]:.2f} ms "
            f"(p99 from when due, sender's lateness included: {due99s[-1]:.2f} ms); "
            f"server side over {float(SERVER_BOUND) * 1000:g} ms: {server_over[-1]:.2%}")
    await asyncio.gather(*(a.call("close", tag="paced") for a in holders),
                         *(a.call("close", tag="room") for a in crowd))
    return p50s, p99s, due99s, server_over


def _two_workers(results: PeakResults) -> Row:
    """2 workers against 1, with what bounds it here: the machine's cores over
    the CPU that one command costs the server, the load and Redis together."""
    one, two = results.rate(1), results.rate(2)
    parts = {part: results.per_command(2, part) for part in ("server", "load", "redis")}
    cores = os.cpu_count() or 1
    bound = cores / sum(parts.values()) * 1e6
    return Row(
        "holds: peak with `serve --workers 2` (2 processes sharing the port)",
        per_s(two), f"1 worker {per_s(one)}", times(two / one), "≥ 1.6x", two >= 1.6 * one,
        note=f"the server's processes used {results.cores(1, 'server'):.2f} cores with 1 "
             f"worker and {results.cores(2, 'server'):.2f} with 2. CPU per command with 2 "
             f"workers: server {parts['server']:.0f} µs, load processes "
             f"{parts['load']:.0f} µs, Redis {parts['redis']:.0f} µs; so {cores} cores "
             f"cannot carry more than {per_s(bound)} = {times(bound / one)} one worker "
             "here, whatever the server does (PostgreSQL and the kernel's own share "
             "not even counted)")


def _capped(results: PeakResults) -> list[Row]:
    if not results.capped:
        return [Row(f"holds: 2 workers vs 1, each process capped at {CAP_CORES:g} cores",
                    "not measured", "", "", "", None,
                    note="this machine has no writable cgroup CPU controller")]
    one, two = results.rate(1, capped=True), results.rate(2, capped=True)
    return [Row(
        f"holds: the same, each server process capped at {CAP_CORES:g} cores (cgroup "
        "quota), so that the load and Redis are not short of a core (for comparison)",
        per_s(two), f"1 worker {per_s(one)}", times(two / one), "", None)]


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
    say(f"holds: {services.describe()}")
    peak_noise, paced_noise = Noise([]), Noise([])
    say("holds: the ceiling's best concurrency")
    concurrency = await best_concurrency(services, duration, peak_noise)
    agents = await start_agents(4)
    one = SeatServer(services.redis_url, services.database_url)
    two = SeatServer(services.redis_url, services.database_url, workers=2)
    paced_server: SeatServer | None = None
    try:
        await asyncio.gather(one.start(), two.start())
        async with http_session() as http:
            tokens = await new_tokens(http, one.url, 2 * PEAK_SOCKETS)
            say("holds: peak over WebSocket (one worker, then two) and its ceilings, in turn")
            before = await metrics(http, one.url)
            results = await peak(
                agents[:2], {1: one, 2: two}, services, tokens, concurrency, warmup, duration,
                peak_noise)
            after = await metrics(http, one.url)
        stalls = after[STALL_METRIC] - before[STALL_METRIC]
        await stop_all(one, two)
        # A fresh server for the paced part: the peak leaves a process that has
        # just been saturated (and stalled) behind, which is not that scenario.
        paced_server = SeatServer(services.redis_url, services.database_url)
        await paced_server.start()
        say(f"holds: round trip at {PACED_HOLDS_PER_S} holds/s into a room of "
            f"{ROOM_SUBSCRIBERS}")
        say("  first with the load processes at the server's own CPU priority")
        _, same_priority, _, _ = await paced(
            agents[:2], agents[2:], paced_server, services, tokens, warmup, duration + 2,
            Noise([]), nice=0, runs=RUNS)
        # Lowered last: raising a priority again takes privileges.
        say(f"  then with the load processes {PACED_NICE} steps of priority below it")
        p50s, p99s, due99s, server_over = await paced(
            agents[:2], agents[2:], paced_server, services, tokens, warmup, duration + 2,
            paced_noise, nice=PACED_NICE, runs=PACED_RUNS)
    finally:
        await stop_all(one, two, *([paced_server] if paced_server else []), *agents)
    ours, ceiling = results.rate(1), median(results.raws)
    return [
        Row(f"holds: peak hold+release commands/s over WS (1 worker, {PEAK_SOCKETS} sockets, "
            f"{len(services.showtimes)} showtimes, no subscribers)",
            per_s(ours), f"raw EVALSHA {per_s(ceiling)} ({concurrency} concurrent)",
            times(ours / ceiling), "≥ 0.50x", ours / ceiling >= 0.5,
            note=f"event-loop stalls over 100 ms during the peak runs: {stalls:.0f} "
                 f"(longest loop lag {ms(after[LAG_METRIC])}); {peak_noise.describe()}"),
        Row("holds: the same peak against a client that pipelines (for comparison)",
            per_s(ours), f"raw EVALSHA, {PIPELINE_TASKS} tasks x {PIPELINE} holds + "
            f"{PIPELINE} releases per pipeline: {per_s(median(results.pipelined))}",
            times(ours / median(results.pipelined)), "", None),
        _two_workers(results),
        *_capped(results),
        Row(f"holds: hold ack p99 at {PACED_HOLDS_PER_S:,} holds/s (+ as many releases), "
            f"room of {ROOM_SUBSCRIBERS} subscribers", ms(median(p99s)),
            "", "", "≤ 5 ms", median(p99s) <= 5.0,
            note=f"p50 {ms(median(p50s))}; p99 from when each hold was due (the paced "
                 f"sender's own lateness included) {ms(median(due99s))}; server side "
                 f"(parsed hold to ack written) over {float(SERVER_BOUND) * 1000:g} ms: "
                 f"{median(server_over):.2%} of holds; "
                 f"{paced_noise.describe()}"),
        Row("holds: the same p99 with the load processes at the server's CPU priority "
            "(for comparison)", ms(median(same_priority)), "", "", "", None),
    ]


if __name__ == "__main__":
    run_main(bench, __doc__)
