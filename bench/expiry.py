"""Expiry: how long after a hold's deadline its subscribers see the seat free.

``seatserver serve`` with ``SEATSERVER_HOLD_TTL=1``. Twenty guests in this
process hold one seat each in turn, one hold every 20 ms, into showtime 1;
a watcher subscribed to that room notes when each seat comes back as
``free`` with reason ``expire``. The delay is the arrival time minus the
hold's ``expires_at`` from its ack (Redis' clock; Redis runs on this machine,
so the two clocks are one). Every hold must be seen expiring. p50/p99 of
every hold of a run; median of 3 runs. Nothing else runs meanwhile: this is
the sweeper's own delay (wait for the next deadline, sweep, feed, fan-out).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from bench.machine import Noise, quiet
from bench.probe import Probe
from bench.processes import SeatServer
from bench.report import Row, ms, run_main, say
from bench.services import BenchServices, http_session, new_tokens, prepare
from bench.stats import median, percentile

HOLDERS = 20
SPACING_S = 0.02
TTL_S = 1
RUNS = 3


class Watcher:
    """Matches each hold's deadline to the arrival of its expiry."""

    def __init__(self) -> None:
        self.deadlines: dict[str, int] = {}
        self.delays: list[float] = []
        self.all_seen = asyncio.Event()
        # Expiries never seen, over every run (a fault whatever the noise).
        self.missing = 0

    def on_frame(self, frame: dict[str, Any], arrived: float) -> None:
        if frame.get("t") != "update":
            return
        for seat, reason in frame["reasons"].items():
            if reason != "expire" or seat not in self.deadlines:
                continue
            self.delays.append(arrived * 1000 - self.deadlines.pop(seat))
        if not self.deadlines:
            self.all_seen.set()


async def one_run(holders: list[Probe], watcher: Watcher, showtime: int, seats: list[str],
                  samples: int) -> tuple[list[float], int]:
    watcher.delays = []
    refused: list[dict[str, Any]] = []

    async def hold(holder: Probe, seat: str) -> None:
        ack = await holder.request("hold", showtime=showtime, seats=[seat])
        if ack.get("ok"):
            watcher.deadlines[seat] = ack["expires_at"]
        else:
            refused.append(ack)

    start = time.monotonic()
    tasks = []
    for i in range(samples):
        await asyncio.sleep(max(0.0, start + i * SPACING_S - time.monotonic()))
        tasks.append(asyncio.create_task(hold(holders[i % len(holders)], seats[i % len(seats)])))
    await asyncio.gather(*tasks)
    if refused:
        raise RuntimeError(f"holds refused: {refused[:3]}")
    if watcher.deadlines:
        watcher.all_seen.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watcher.all_seen.wait(), TTL_S + 5)
    missing = len(watcher.deadlines)
    watcher.missing += missing
    watcher.deadlines.clear()
    return watcher.delays, missing


async def bench(quick: bool) -> list[Row]:
    say("expiry: preparing Redis and PostgreSQL")
    services = await prepare()
    try:
        return await _bench(services, 60 if quick else 150)
    finally:
        services.stop()


async def _bench(services: BenchServices, samples: int) -> list[Row]:
    server = SeatServer(services.redis_url, services.database_url,
                        env={"SEATSERVER_HOLD_TTL": str(TTL_S)})
    probes: list[Probe] = []
    p50s, p99s, worst = [], [], []
    try:
        await server.start()
        noise = Noise([])
        async with http_session() as http:
            tokens = await new_tokens(http, server.url, HOLDERS + 1)
        showtime = services.showtimes[0]
        watcher = Watcher()
        probes.append(await Probe(server.port, tokens[0], watcher.on_frame).connect())
        await probes[0].snapshot(showtime)
        holders = [await Probe(server.port, t).connect() for t in tokens[1:]]
        probes += holders
        for run in range(RUNS):
            delays, missing = await quiet(
                lambda: one_run(holders, watcher, showtime, services.seats[showtime], samples),
                noise)
            p50s.append(percentile(delays, 50))
            p99s.append(percentile(delays, 99))
            worst.append(max(delays, default=float("nan")))
            say(f"  expiry run {run + 1}: {len(delays)} expiries seen, {missing} missing; "
                f"p50 {p50s[-1]:.1f} ms, p99 {p99s[-1]:.1f} ms, max {worst[-1]:.1f} ms")
    finally:
        for probe in probes:
            probe.close()
        await server.stop()
    p99, lost = median(p99s), watcher.missing
    return [
        Row(f"expiry: deadline → subscriber sees the seat free, p99 (TTL {TTL_S} s, "
            f"{samples} holds a run)", ms(p99), "", "", "≤ 250 ms",
            p99 <= 250 and lost == 0,
            note=f"p50 {ms(median(p50s))}, worst {ms(max(worst))}, {lost} expiries never seen; "
                 f"{noise.describe()}"),
    ]


if __name__ == "__main__":
    run_main(bench, __doc__)
