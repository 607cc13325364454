"""Arrival cost: the server's CPU for each step of a buyer arriving.

On an opening night the server's first work for each buyer comes before any
hold: a guest session (``POST /api/sessions``), the WebSocket upgrade, the
subscribe with its snapshot of the hall, and at the end the socket's close.
When thousands arrive in a minute, that work competes with the holds and the
fan-out of everyone already in. This benchmark prices each step in server CPU
(user + system of the one ``seatserver serve`` process, from /proc) per
buyer, with a hold and a release beside them as the yardstick, so the cost of
an arriving buyer can be set against the box's budget (docs/operations.md).
Beside each step it prices the client's side too: this process's CPU per
buyer, playing the load generator's buyers with its own client code
(``guest_session``, ``SeatClient``) on the loop the load generator runs on
(uvloop), so that what one core of the load generator can play is known.

CPU time, unlike latency, hardly depends on what else the machine runs, so
the figures hold on a shared machine; each is the median of ``--runs`` rounds
of ``--buyers`` buyers arriving ``--concurrency`` at a time.

    python -m bench.arrival [--buyers 400] [--concurrency 40] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bench.processes import SeatServer
from bench.report import say
from bench.services import BenchServices, http_session, prepare
from bench.stats import median
from seatserver import loops
from seatserver.loadgen.client import SeatClient, guest_session

STEPS = ("session", "upgrade", "subscribe", "hold+release", "close")


async def _each(items: list[Any], concurrency: int,
                step: Callable[[Any], Awaitable[Any]]) -> list[Any]:
    """``step`` over ``items``, ``concurrency`` at a time, results in order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(item: Any) -> Any:
        async with gate:
            return await step(item)

    return list(await asyncio.gather(*(one(i) for i in items)))


async def one_round(server: SeatServer, http: aiohttp.ClientSession, showtime: int,
                    seats: list[str], buyers: int, concurrency: int,
                    idle: float) -> tuple[dict[str, float], dict[str, float]]:
    """Server and client CPU (µs) per buyer for each step of ``buyers``
    arriving; ``idle``: the CPU seconds per second the idle server burns (its
    timers, the feed's reads), taken off the server's."""
    cpu: dict[str, float] = {}
    client_cpu: dict[str, float] = {}

    async def measured(name: str, run: Callable[[], Awaitable[Any]]) -> Any:
        await asyncio.sleep(0.3)  # what the last step left behind settles
        before, began = server.cpu_seconds(), time.monotonic()
        ours = time.process_time()
        result = await run()
        await asyncio.sleep(0.3)  # ... and what this one leaves behind is counted
        client_cpu[name] = (time.process_time() - ours) * 1e6 / buyers
        used = server.cpu_seconds() - before - idle * (time.monotonic() - began)
        cpu[name] = used * 1e6 / buyers
        return result

    tokens = await measured("session", lambda: _each(
        list(range(buyers)), concurrency, lambda _: guest_session(http, server.url)))
    clients = [SeatClient(http, server.url, token) for token, _ in tokens]
    await measured("upgrade", lambda: _each(clients, concurrency, lambda c: c.connect()))
    await measured("subscribe", lambda: _each(
        clients, concurrency, lambda c: c.subscribe(showtime)))

    async def hold_and_release(item: tuple[int, SeatClient]) -> None:
        index, client = item
        seat = [seats[index % len(seats)]]
        if (await client.hold(showtime, seat)).get("ok"):
            await client.release(showtime, seat)

    # One at a time per seat: concurrency below the seats free, so most holds win.
    await measured("hold+release", lambda: _each(
        list(enumerate(clients)), min(concurrency, len(seats)), hold_and_release))
    await measured("close", lambda: _each(clients, concurrency, lambda c: c.close()))
    return cpu, client_cpu


async def _idle(server: SeatServer) -> float:
    before, began = server.cpu_seconds(), time.monotonic()
    await asyncio.sleep(3.0)
    return (server.cpu_seconds() - before) / (time.monotonic() - began)


async def measure(args: argparse.Namespace) -> dict[str, float]:
    say("arrival: preparing Redis and PostgreSQL")
    services = await prepare()
    try:
        return await _measure(services, args)
    finally:
        services.stop()


async def _measure(services: BenchServices, args: argparse.Namespace) -> dict[str, float]:
    server = SeatServer(services.redis_url, services.database_url)
    idle = 0.0
    figures: dict[str, list[float]] = {step: [] for step in STEPS}
    client_figures: dict[str, list[float]] = {step: [] for step in STEPS}
    try:
        await server.start()
        idle = await _idle(server)
        showtime = services.showtimes[0]
        async with http_session() as http:
            for run in range(args.runs):
                cpu, client_cpu = await one_round(
                    server, http, showtime, services.seats[showtime], args.buyers,
                    args.concurrency, idle)
                for step in STEPS:
                    figures[step].append(cpu[step])
                    client_figures[step].append(client_cpu[step])
                say(f"  run {run + 1}: " + ", ".join(
                    f"{s} {cpu[s]:.0f} µs (client {client_cpu[s]:.0f})" for s in STEPS))
    finally:
        await server.stop()
    result = {step: median(values) for step, values in figures.items()}
    client = {step: median(values) for step, values in client_figures.items()}
    arriving = ("session", "upgrade", "subscribe", "close")
    server_total = sum(result[s] for s in arriving)
    client_total = sum(client[s] for s in arriving)
    print(f"CPU per arriving buyer, median of {args.runs} rounds of {args.buyers} "
          f"buyers ({args.concurrency} at a time); server: one worker, the idle server's "
          f"{idle * 1000:.1f} ms/s taken off; client: the load generator's code on "
          f"{type(asyncio.get_running_loop()).__module__.split('.')[0]}'s loop:")
    print(f"  {'step':<13} {'server':>8}    {'client':>8}")
    for step in STEPS:
        print(f"  {step:<13} {result[step]:8.0f} µs {client[step]:8.0f} µs")
    print(f"  {'arriving':<13} {server_total:8.0f} µs {client_total:8.0f} µs"
          f"  (session + upgrade + subscribe + close) = "
          f"{server_total / max(result['hold+release'], 1.0):.1f} hold+release pairs"
          f" of the server")
    return result | {f"client {step}": value for step, value in client.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buyers", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    loops.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
