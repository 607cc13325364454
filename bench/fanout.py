"""Fan-out: one update to 1,000 to 10,000 subscribers, against a bare aiohttp broadcast.

Both servers run at once, each in its own process (ours: ``seatserver serve``,
one worker, so that one room is one process like the bare server), and every
load process holds subscribers of both, so both are measured by the same
receivers under the same conditions, round by round in turn:
- ours: a probe socket in this process holds (or releases) one seat; every
  subscriber of that showtime's room gets one update;
- bare: ``POST /broadcast`` makes ``bench.bare`` send an update of the same
  shape and size with ``for ws in subs: await ws.send_str(msg)``.
The figure is the delay from the update's ``ts`` (stamped by the server when
it builds the update, in whole ms, the same for both) to the arrival of its
bytes at each subscriber; p50/p99 over every subscriber and round of a run,
median of the runs.

Storm: 100 other sockets hold and release their own seats at 500 holds/s
(and 500 releases/s) for a while into the room of 1,000. Every subscriber's
final view must equal a fresh snapshot, update delays are compared with the
bare broadcast's p99 to 1,000 of the same run, the storm's own hold acks
must stay quick, and /metrics must show no event-loop stall over 100 ms.
The storm runs first with every load process at the server's CPU priority,
then (for the target, and everything after) with them PACED_NICE steps below
it, as the holds bench's round trip does: on 2 cores the four receiving
processes wake together at every update and crowd the server and Redis out
of the cores, which is this machine, not the hold path. The same storm again
once the room has grown to 10,000: there the fan-out budget
(SEATSERVER_FANOUT_BUDGET) is what keeps the process afloat.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.agent import view_digest
from bench.holds import PACED_NICE
from bench.machine import Noise, quiet
from bench.probe import Probe
from bench.processes import Agent, BareServer, SeatServer, start_agents, stop_all
from bench.report import Row, ms, run_main, say, times
from bench.services import BenchServices, http_session, metrics, new_tokens, prepare
from bench.stats import median, percentile
from seatserver.loadgen import serverside

CROWD_AGENTS = 4
# After the room of 1,000 and its storm, the room grows to each of these in turn.
BIG_SIZES = (4000, 5000, 10000)
# The sizes the issue sets a target for; the others show how the cost grows.
TARGET_SIZES = (1000, 4000)
STORM_SOCKETS = 100
STORM_HOLDS_PER_S = 500
STALL_METRIC = "seatserver_loop_stalls_over_100ms_total"
STALL_REPORTED_METRIC = "seatserver_loop_stalls_reported_total"
STALL_CAUSES = ("gc", "busy", "crowded", "blocked", "unknown")
STALL_LINE = "event loop stalled"
FULL_GC_METRIC = 'seatserver_gc_pause_max_ms{generation="2"}'
MIDDLE_GC_METRIC = 'seatserver_gc_pause_max_ms{generation="1"}'
LAG_METRIC = "seatserver_loop_lag_max_ms"
CONVERGE_S = 10.0
# SCHED_FIFO priority of the server and Redis in the isolating storm (1-99).
REAL_TIME_PRIORITY = 10


@dataclass
class Runs:
    """p50 and p99 of each run, for one server at one size."""

    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)

    def add(self, delays: list[float]) -> None:
        self.p50.append(percentile(delays, 50))
        self.p99.append(percentile(delays, 99))


@dataclass
class Rig:
    services: BenchServices
    ours: SeatServer
    bare: BareServer
    crowd: list[Agent]
    http: aiohttp.ClientSession
    trigger: Probe
    showtime: int
    seat: str
    held: bool = False
    # How long the bare server's send loop took, as it measured it.
    bare_loop_ms: list[float] = field(default_factory=list)

    async def subscribe(self, n: int, token: str) -> None:
        share = n // len(self.crowd)
        await asyncio.gather(*(
            a.call("subscribe", tag="ours", port=self.ours.port, n=share, token=token,
                   showtime=self.showtime) for a in self.crowd))
        await asyncio.gather(*(
            a.call("subscribe", tag="bare", port=self.bare.port, n=share, path="/ws")
            for a in self.crowd))

    async def fire_ours(self) -> None:
        op = "release" if self.held else "hold"
        ack = await self.trigger.request(op, showtime=self.showtime, seats=[self.seat])
        if not ack.get("ok"):
            raise RuntimeError(f"trigger {op} refused: {ack}")
        self.held = not self.held

    async def fire_bare(self) -> None:
        # The same change our last update carried, so both payloads are the same size.
        state, reason = ("held", "hold") if self.held else ("free", "release")
        body = {"showtime": self.showtime, "offset": f"{int(time.time() * 1000)}-0",
                "seats": {self.seat: state}, "reasons": {self.seat: reason}}
        async with self.http.post(self.bare.url + "/broadcast", json=body) as resp:
            resp.raise_for_status()
            self.bare_loop_ms.append((await resp.json())["took_ms"])

    async def arrived(self, tag: str, per_client: int) -> None:
        replies = await asyncio.gather(*(
            a.call("await_updates", tag=tag, per_client=per_client, within=30)
            for a in self.crowd))
        got, expected = (sum(r[k] for r in replies) for k in ("updates", "expected"))
        if got < expected:
            raise RuntimeError(f"{tag}: {got} of {expected} updates arrived within 30 s")

    async def collect(self, tag: str) -> list[float]:
        replies = await asyncio.gather(*(a.call("delays", tag=tag) for a in self.crowd))
        bad = sum(r["violations"] for r in replies)
        closed = sum(r["closed"] for r in replies)
        if bad or closed:
            raise RuntimeError(f"{tag}: {bad} out-of-order updates, {closed} sockets closed")
        return [d for r in replies for d in r["delays"]]

    async def rounds(self, runs: int, rounds: int, noise: Noise) -> tuple[Runs, Runs]:
        """Alternate one update from ours and one from bare, ``rounds`` each a run."""
        ours, bare = Runs(), Runs()

        async def one_run() -> tuple[list[float], list[float]]:
            for tag in ("ours", "bare"):
                await asyncio.gather(*(a.call("reset", tag=tag) for a in self.crowd))
            for k in range(1, rounds + 1):
                await self.fire_ours()
                await self.arrived("ours", k)
                await asyncio.sleep(0.02)
                await self.fire_bare()
                await self.arrived("bare", k)
                await asyncio.sleep(0.02)
            return await self.collect("ours"), await self.collect("bare")

        for _ in range(runs):
            mine, theirs = await quiet(one_run, noise)
            ours.add(mine)
            bare.add(theirs)
            say(f"    ours p50 {ours.p50[-1]:.2f} ms p99 {ours.p99[-1]:.2f} ms | "
                f"bare p50 {bare.p50[-1]:.2f} ms p99 {bare.p99[-1]:.2f} ms")
        return ours, bare


@dataclass
class Storm:
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    current: list[bool] = field(default_factory=list)
    stalls: list[float] = field(default_factory=list)
    lag_max: float = 0.0
    full_gc_max: float = 0.0  # the server's longest full collection (ms)
    middle_gc_max: float = 0.0  # ... and of generation 1 (ms)
    updates_per_s: list[float] = field(default_factory=list)
    hold_p99: list[float] = field(default_factory=list)
    # The server's own p99 of the storm's holds (parsed to ack written, /metrics).
    server_hold_p99: list[float] = field(default_factory=list)
    # ... and of its hold scripts (call to reply, /metrics).
    script_p99: list[float] = field(default_factory=list)
    # Share of each storm's wall time Redis and the server spent runnable but
    # waiting for a core (their run queue delay, /proc/PID/schedstat).
    redis_waited: list[float] = field(default_factory=list)
    server_waited: list[float] = field(default_factory=list)
    # Stalls the server's stall watch reported (SEATSERVER_STALL_REPORT_MS): by
    # what its loop thread did most, and the log lines saying where it was.
    stall_causes: Counter[str] = field(default_factory=Counter)
    stall_lines: list[str] = field(default_factory=list)

    def stall_note(self) -> str:
        if not self.stall_lines:
            return "the stall watch reported none"
        causes = ", ".join(f"{n} {cause}" for cause, n in self.stall_causes.most_common())
        return f"the stall watch: {causes}; the longest: {max(self.stall_lines, key=_lag)}"


def _lag(line: str) -> float:
    """The length of the stall a stall-watch line reports (ms)."""
    match = re.search(r"stalled (\d+) ms", line)
    return float(match.group(1)) if match else 0.0


async def storm(rig: Rig, holders: Agent, tokens: list[str], runs: int, duration: float,
                noise: Noise) -> Storm:
    seats = rig.services.seats[rig.showtime][:STORM_SOCKETS]
    specs = [{"token": t, "showtime": rig.showtime, "seat": s}
             for t, s in zip(tokens, seats, strict=True)]
    await holders.call("open_holders", tag="storm", port=rig.ours.port, holders=specs)
    rate = 2 * STORM_HOLDS_PER_S / STORM_SOCKETS  # a hold and a release each cycle
    result = Storm()
    subscribers = await _count(rig.crowd, "ours")

    redis_pid = await rig.services.redis_pid()
    server_pid = rig.ours.worker_pids()[0]

    async def one_run() -> tuple[list[float], dict[str, Any], float]:
        await asyncio.gather(*(a.call("reset", tag="ours") for a in rig.crowd))
        histograms = await serverside.scrape([rig.ours.url + "/metrics"], None)
        waits = {"redis": queue_wait(redis_pid), "server": queue_wait(server_pid)}
        began = time.monotonic()
        before = await metrics(rig.http, rig.ours.url)
        reported = len(rig.ours.log_lines(STALL_LINE))
        held = await holders.call("paced", tag="storm", rate_per_client=rate, warmup=0,
                                  duration=duration)
        took = time.monotonic() - began
        result.redis_waited.append((queue_wait(redis_pid) - waits["redis"]) / took)
        result.server_waited.append((queue_wait(server_pid) - waits["server"]) / took)
        current, detail = await _views_current(rig, subscribers)  # all updates landed
        # A view that is not current is a fault whatever the noise: kept from
        # every run, repeated ones included.
        result.current.append(current)
        after = await metrics(rig.http, rig.ours.url)
        for cause in STALL_CAUSES:
            key = f'{STALL_REPORTED_METRIC}{{cause="{cause}"}}'
            result.stall_causes[cause] += int(after.get(key, 0.0) - before.get(key, 0.0))
        result.stall_lines += rig.ours.log_lines(STALL_LINE)[reported:]
        server = serverside.compare(
            histograms, await serverside.scrape([rig.ours.url + "/metrics"], None), {}, [])
        result.server_hold_p99.append(server["pairs"]["hold"]["server"].get("p99_ms") or 0.0)
        script = server["pairs"].get("redis_script", {}).get("server", {})
        result.script_p99.append(script.get("p99_ms") or 0.0)
        result.lag_max = max(result.lag_max, after[LAG_METRIC])
        result.full_gc_max = max(result.full_gc_max, after.get(FULL_GC_METRIC, 0.0))
        result.middle_gc_max = max(result.middle_gc_max, after.get(MIDDLE_GC_METRIC, 0.0))
        delays = await rig.collect("ours")
        say(f"    storm: {len(held['hold_ms']) / duration:,.0f} holds/s, "
            f"{len(delays) / subscribers / duration:.0f} updates/s per subscriber, "
            f"views {detail}" + (f", refused {held['errors']}" if held["errors"] else ""))
        return delays, held, after[STALL_METRIC] - before[STALL_METRIC]

    for run in range(runs):
        delays, held, stalls = await quiet(one_run, noise)
        result.p50.append(percentile(delays, 50))
        result.p99.append(percentile(delays, 99))
        result.updates_per_s.append(len(delays) / subscribers / duration)
        result.hold_p99.append(percentile(held["hold_ms"], 99))
        result.stalls.append(stalls)
        say(f"    storm run {run + 1}: delay p50 {result.p50[-1]:.1f} ms "
            f"p99 {result.p99[-1]:.1f} ms, hold ack p99 {result.hold_p99[-1]:.1f} ms, "
            f"stalls over 100 ms: {stalls:.0f}")
    await holders.call("close", tag="storm")
    return result


def queue_wait(pid: int | None) -> float:
    """Seconds the process has spent runnable but waiting for a core (0 when
    unknown: no pid, or no schedstat on this kernel)."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/schedstat") as stats:
            return int(stats.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


async def _count(crowd: list[Agent], tag: str) -> int:
    replies = await asyncio.gather(*(a.call("views", tag=tag) for a in crowd))
    return sum(n for r in replies for n in r["views"].values())


async def _views_current(rig: Rig, subscribers: int) -> tuple[bool, str]:
    """Whether every subscriber's view comes to equal a fresh snapshot.

    The snapshot is taken once the storm has stopped, so nothing changes
    after it; updates still in flight get up to CONVERGE_S to arrive.
    """
    snap = await rig.trigger.snapshot(rig.showtime)
    # The trigger is now a subscriber too; leave the room so fan-outs stay as measured.
    await rig.trigger.request("unsubscribe", showtime=rig.showtime)
    fresh = view_digest(snap["offset"], snap["held"], snap["booked"])
    start = time.monotonic()
    while True:
        replies = await asyncio.gather(*(a.call("views", tag="ours") for a in rig.crowd))
        equal = sum(r["views"].get(fresh, 0) for r in replies)
        waited = time.monotonic() - start
        if equal == subscribers or waited > CONVERGE_S:
            break
        await asyncio.sleep(0.1)
    return equal == subscribers, (f"{equal}/{subscribers} equal to a fresh snapshot "
                                  f"(after {waited:.1f} s)")


async def bench(quick: bool) -> list[Row]:
    say("fan-out: preparing Redis and PostgreSQL")
    services = await prepare()
    try:
        return await _bench(services, quick)
    finally:
        services.stop()


async def _bench(services: BenchServices, quick: bool) -> list[Row]:
    runs_small, runs_big, rounds = (3, 3, 5) if quick else (5, 3, 10)
    storm_runs, storm_s = (3, 3.0) if quick else (3, 8.0)
    ours = SeatServer(services.redis_url, services.database_url)
    bare = BareServer()
    agents = await start_agents(CROWD_AGENTS + 1)
    crowd, holders = agents[:CROWD_AGENTS], agents[CROWD_AGENTS]
    trigger: Probe | None = None
    noise: dict[int | str, Noise] = {1000: Noise([]), "storm": Noise([])}
    try:
        await asyncio.gather(ours.start(), bare.start())
        async with http_session() as http:
            tokens = await new_tokens(http, ours.url, 2 + STORM_SOCKETS)
            showtime = services.showtimes[0]
            trigger = await Probe(ours.port, tokens[0]).connect()
            rig = Rig(services, ours, bare, crowd, http, trigger, showtime,
                      services.seats[showtime][-1])
            say("fan-out: 1,000 subscribers on each server")
            await rig.subscribe(1000, tokens[1])
            small = await rig.rounds(runs_small, rounds, noise[1000])
            say(f"fan-out: storm of {STORM_HOLDS_PER_S} holds/s into the room of 1,000, "
                "the load processes at the server's CPU priority")
            noise["same priority"] = Noise([])
            same_priority = await storm(rig, holders, tokens[2:], storm_runs, storm_s,
                                        noise["same priority"])
            # Lowered for good: raising a priority again takes privileges.
            for agent in agents:
                agent.renice(PACED_NICE)
            say(f"fan-out: the same storm, the load processes {PACED_NICE} steps of CPU "
                "priority below the server")
            stormed = await storm(rig, holders, tokens[2:], storm_runs, storm_s,
                                  noise["storm"])
            realtime = None
            # The holders' process too: it measures the acks, and among the
            # four receiving processes it waited for a core as much as they.
            pids = [p for p in (await services.redis_pid(), ours.worker_pids()[0],
                                holders.pid) if p]
            if real_time(pids, True):
                say("fan-out: the same storm, the server, Redis and the holders at real-time "
                    "CPU priority (what the code does without this machine's crowding)")
                try:
                    noise["real time"] = Noise([])
                    realtime = await storm(rig, holders, tokens[2:], storm_runs, storm_s,
                                           noise["real time"])
                finally:
                    real_time(pids, False)
            sizes: dict[int, tuple[Runs, Runs]] = {1000: small}
            for n in BIG_SIZES:
                say(f"fan-out: {n:,} subscribers on each server")
                noise[n] = Noise([])
                await rig.subscribe(n - max(sizes), tokens[1])
                sizes[n] = await rig.rounds(runs_big, rounds, noise[n])
            biggest = max(sizes)
            say(f"fan-out: storm of {STORM_HOLDS_PER_S} holds/s into the room of {biggest:,}")
            noise["big storm"] = Noise([])
            big_storm = await storm(rig, holders, tokens[2:], storm_runs, storm_s,
                                    noise["big storm"])
    finally:
        if trigger is not None:
            trigger.close()
        await stop_all(ours, bare, *agents)
    return _rows(sizes, same_priority, stormed, realtime, big_storm, noise)


def real_time(pids: list[int], on: bool) -> bool:
    """Put the processes under SCHED_FIFO (on) or back under SCHED_OTHER;
    whether it could (it takes root, or CAP_SYS_NICE, and Linux). Real-time
    processes run the moment they wake, ahead of every ordinary one: with the
    server and Redis so, the load processes crowding the 2 cores no longer
    delay them, and what is left of a latency is the code's."""
    try:
        for pid in pids:
            if on:
                os.sched_setscheduler(pid, os.SCHED_FIFO, os.sched_param(REAL_TIME_PRIORITY))
            else:
                os.sched_setscheduler(pid, os.SCHED_OTHER, os.sched_param(0))
    except (AttributeError, OSError):
        return False
    return True


def _rows(sizes: dict[int, tuple[Runs, Runs]], same_priority: Storm, stormed: Storm,
          realtime: Storm | None, big_storm: Storm, noise: dict[int | str, Noise]
          ) -> list[Row]:
    rows = []
    for n, (ours, bare) in sizes.items():
        p99, bare_p99 = median(ours.p99), median(bare.p99)
        target = n in TARGET_SIZES
        rows.append(Row(f"fan-out: one update to {n:,} subscribers, p99 stamp→receipt",
                        ms(p99), f"bare aiohttp {ms(bare_p99)}", times(p99 / bare_p99),
                        "≤ 1.25x" if target else "", p99 <= 1.25 * bare_p99 if target else None,
                        note=f"p50 ours {ms(median(ours.p50))}, bare {ms(median(bare.p50))}; "
                             f"{noise[n].describe()}"))
    bare_p99 = median(sizes[1000][1].p99)
    storm_p99 = median(stormed.p99)
    rows.append(Row(f"storm: {STORM_HOLDS_PER_S} holds/s (+ as many releases) into 1,000 "
                    "subscribers, update p99", ms(storm_p99),
                    f"bare one update to 1,000: {ms(bare_p99)}", times(storm_p99 / bare_p99),
                    "≤ 2x", storm_p99 <= 2 * bare_p99,
                    note=f"p50 {ms(median(stormed.p50))}; "
                         f"{median(stormed.updates_per_s):.0f} updates/s per subscriber "
                         f"(coalesced from {2 * STORM_HOLDS_PER_S} changes/s); hold ack p99 "
                         f"{ms(median(stormed.hold_p99))}; {noise['storm'].describe()}"))
    hold_p99 = median(stormed.hold_p99)
    rows.append(Row("storm: its hold acks, p99 (load processes at a lower CPU priority)",
                    ms(hold_p99), f"server side {ms(median(stormed.server_hold_p99))}", "",
                    "≤ 5 ms", hold_p99 <= 5.0,
                    note="server side: a parsed hold to its ack written, the server's "
                         "/metrics histogram (as coarse as its buckets); of which the hold "
                         f"script, call to reply, p99 {ms(median(stormed.script_p99))}; "
                         f"waiting for a core (run queue) during the storm: Redis "
                         f"{median(stormed.redis_waited):.1%} of the time, the server "
                         f"{median(stormed.server_waited):.1%}"))
    if realtime is not None:
        rows.append(Row("storm: its hold acks, p99, the server, Redis and the holders at "
                        "real-time CPU priority (isolates the code from the machine's "
                        "crowding)",
                        ms(median(realtime.hold_p99)),
                        f"server side {ms(median(realtime.server_hold_p99))}", "", "", None,
                        note=f"update p99 {ms(median(realtime.p99))}; hold script p99 "
                             f"{ms(median(realtime.script_p99))}; waiting for a core: Redis "
                             f"{median(realtime.redis_waited):.1%}, the server "
                             f"{median(realtime.server_waited):.1%}; "
                             f"{noise['real time'].describe()}"))
    rows.append(Row("storm: its hold acks, p99, the load at the server's CPU priority",
                    ms(median(same_priority.hold_p99)),
                    f"server side {ms(median(same_priority.server_hold_p99))}", "", "",
                    None, note=f"update p99 {ms(median(same_priority.p99))}; "
                               f"{noise['same priority'].describe()}"))
    rows.append(Row("storm: subscribers whose final view equals a fresh snapshot",
                    f"{sum(stormed.current)}/{len(stormed.current)} runs all current",
                    "", "", "every run", all(stormed.current)))
    rows.append(Row("storm: event-loop stalls over 100 ms (/metrics, before→after)",
                    f"{sum(stormed.stalls):.0f}", "", "", "0", sum(stormed.stalls) == 0,
                    note=f"longest loop lag since the server started: {ms(stormed.lag_max)}; "
                     f"{stormed.stall_note()}"))
    big = max(sizes)
    big_p99 = median(big_storm.p99)
    rows.append(Row(f"storm into {big:,}: update p99", ms(big_p99), "", "", "≤ 1 s",
                    big_p99 <= 1000.0,
                    note=f"p50 {ms(median(big_storm.p50))}; "
                         f"{median(big_storm.updates_per_s):.1f} updates/s per subscriber; "
                         f"hold ack p99 {ms(median(big_storm.hold_p99))}; "
                         f"{noise['big storm'].describe()}"))
    rows.append(Row(f"storm into {big:,}: views equal to a fresh snapshot; loop stalls "
                    "over 100 ms", f"{sum(big_storm.current)}/{len(big_storm.current)} runs "
                    f"all current; {sum(big_storm.stalls):.0f} stalls", "", "",
                    "every run; 0", all(big_storm.current) and sum(big_storm.stalls) == 0,
                    note=f"longest loop lag since the server started: "
                         f"{ms(big_storm.lag_max)}; longest garbage collection of "
                         f"generation 1 {ms(big_storm.middle_gc_max)}, full "
                         f"{ms(big_storm.full_gc_max)}; {big_storm.stall_note()}"))
    return rows


if __name__ == "__main__":
    run_main(bench, __doc__)
