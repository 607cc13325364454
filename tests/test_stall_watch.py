"""The stall watch: a stall is reported once it ends, with its length, what
the loop's thread did (ran, waited for a core, slept) and where it was."""

from __future__ import annotations

import asyncio
import gc
import logging
import time

import pytest

from seatserver.loop_lag import GcPauses, LoopLagMonitor, StallReport, StallWatch

STALL_S = 0.3


def spin_for(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def sleep_for(seconds: float) -> None:
    time.sleep(seconds)


def caused_by(monitor: LoopLagMonitor, function: str) -> list[StallReport]:
    """The reports of stalls in ``function``: on a busy machine the loop may
    also stall waiting for a core elsewhere in the test (a second report, the
    machine's, seen in a full run with four test processes)."""
    assert monitor.watch is not None
    return [r for r in monitor.watch.reports
            if any(f"{function} (test_stall_watch.py:" in stack for stack, _ in r.where)]


async def _stall_under_watch(stall: object, over_ms: int = 100) -> LoopLagMonitor:
    monitor = LoopLagMonitor(stall_report_ms=over_ms)
    async with monitor:
        await asyncio.sleep(0.1)  # the monitor ticks
        stall()  # type: ignore[operator]
        await asyncio.sleep(0.15)  # the loop ticks again: the stall has ended
    return monitor


async def test_a_busy_stall_is_reported_as_busy_with_where_the_loop_was(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="seatserver.loop_lag"):
        monitor = await _stall_under_watch(lambda: spin_for(STALL_S))
    assert monitor.watch is not None
    [report] = caused_by(monitor, "spin_for")
    assert 0.8 * STALL_S * 1000 <= report.lag_ms <= 1.5 * STALL_S * 1000
    if report.ran_ms is None:
        pytest.skip("this kernel keeps no schedstat")
    assert report.cause in ("busy", "crowded")  # ran, or waited for a core: never slept
    assert report.ran_ms + report.waited_ms >= 0.5 * report.watched_ms
    assert "spin_for (test_stall_watch.py:" in report.where[0][0]
    assert monitor.watch.by_cause[report.cause] == sum(
        r.cause == report.cause for r in monitor.watch.reports)
    logged = [r for r in caplog.records if "event loop stalled" in r.getMessage()
              and "spin_for" in r.getMessage()]
    assert len(logged) == 1, logged  # logged once, where it was


async def test_a_blocking_call_is_reported_as_blocked() -> None:
    monitor = await _stall_under_watch(lambda: sleep_for(STALL_S))
    [report] = caused_by(monitor, "sleep_for")
    if report.ran_ms is None:
        pytest.skip("this kernel keeps no schedstat")
    assert report.cause == "blocked"
    assert report.ran_ms < 0.5 * report.watched_ms
    assert "sleep_for (test_stall_watch.py:" in report.where[0][0]


async def test_short_hiccups_and_quiet_time_report_nothing() -> None:
    monitor = await _stall_under_watch(lambda: spin_for(0.03))
    assert monitor.watch is not None
    assert caused_by(monitor, "spin_for") == []
    # Any other report is the machine's: the loop waited for a core.
    assert all(r.cause == "crowded" for r in monitor.watch.reports), monitor.watch.reports


async def test_off_means_no_thread() -> None:
    monitor = LoopLagMonitor(stall_report_ms=0)
    assert monitor.watch is None
    async with monitor:
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(("ran", "waited", "cause"), [
    (500.0, 50.0, "busy"),
    (100.0, 450.0, "crowded"),
    (30.0, 10.0, "blocked"),  # 560 ms of 600 asleep
    (None, None, "unknown"),
])
def test_the_cause_is_what_the_thread_did_most(ran: float | None, waited: float | None,
                                               cause: str) -> None:
    report = StallReport(lag_ms=680.0, watched_ms=600.0, ran_ms=ran, waited_ms=waited, where=[])
    assert report.cause == cause
    assert report.line().startswith(f"event loop stalled 680 ms ({cause})")


async def test_a_stall_cut_short_by_the_stop_is_not_reported() -> None:
    monitor = LoopLagMonitor(stall_report_ms=100)
    watch = monitor.watch
    assert watch is not None
    async with monitor:
        await asyncio.sleep(0.1)
        spin_for(0.2)  # stuck as the stop comes: no tick after it
        stop = asyncio.get_running_loop().run_in_executor(None, watch.stop)
        spin_for(0.1)
        await stop
    assert list(watch.reports) == []


async def test_a_stall_spent_collecting_garbage_is_reported_as_gc_with_its_generation() -> None:
    """A collection holds the GIL from start to end, so the watch cannot sample
    it: the report names it from the collector's own callbacks."""
    # Enough tracked objects that one full collection takes a stall's length
    # here, whatever this machine's speed: grown until it does (a short
    # stall, reported past 30 ms: ~10 MB a 10 ms).
    heap: list[list[int]] = []
    took = 0.0
    while took < 0.08:
        heap.extend([i] for i in range(50_000))
        began = time.perf_counter()
        gc.collect()
        took = time.perf_counter() - began
    monitor = await _stall_under_watch(gc.collect, over_ms=30)
    del heap
    assert monitor.watch is not None
    # Any other report is the machine's (a stall waiting for a core, perhaps
    # with a young collection of this process in it).
    reports = [r for r in monitor.watch.reports if any(g == 2 for g, _ in r.collections)]
    assert len(reports) == 1, monitor.watch.reports
    [report] = reports
    assert report.cause == "gc"
    assert report.gc_ms >= 0.5 * report.lag_ms
    assert "(gc); garbage collection " in report.line()
    assert "ms (generation 2)" in report.line()
    assert monitor.watch.by_cause["gc"] == sum(r.cause == "gc" for r in monitor.watch.reports)


async def test_a_busy_stall_with_a_short_collection_in_it_stays_busy() -> None:
    def spin_and_collect_young() -> None:
        spin_for(STALL_S)
        gc.collect(0)

    monitor = await _stall_under_watch(spin_and_collect_young)
    [report] = caused_by(monitor, "spin_for")
    assert [generation for generation, _ in report.collections] == [0]
    assert report.cause in ("busy", "crowded")


def test_a_collection_the_watch_did_not_see_while_it_lasted_is_reported_from_the_loop(
        caplog: pytest.LogCaptureFixture) -> None:
    """On a crowded machine the loop can tick again before the watch's thread
    gets a core (a collection holds the GIL, so the thread cannot look while it
    runs): the loop's own measure of the stall reports it, once."""
    pauses = GcPauses()
    watch = StallWatch(0.1, pauses)  # its thread not started: it saw nothing
    start = time.monotonic()
    pauses("start", {"generation": 2})
    spin_for(0.15)
    pauses("stop", {"generation": 2})
    end = time.monotonic()
    watch.ended(start, end, end - start)
    spin_for(0.15)  # not a collection: nothing to say it was one
    watch.ended(end, time.monotonic(), 0.15)
    watch.ended(end, time.monotonic(), 0.05)  # not a stall
    with caplog.at_level(logging.WARNING, logger="seatserver.loop_lag"):
        watch._report_missed()
        watch._report_missed()
    [report] = watch.reports
    assert report.cause == "gc"
    assert [generation for generation, _ in report.collections] == [2]
    assert report.where == [] and report.ran_ms is None
    assert len([r for r in caplog.records if "(gc)" in r.getMessage()]) == 1


def test_a_stall_over_before_the_watch_looked_is_not_judged_from_the_watchs_delay() -> None:
    """Seen in a full run on a crowded machine: the watch found the beat old,
    but the loop had ticked again before its first look, and the window it
    timed (its own delay, the loop thread idle) reported a 167 ms stall as
    "blocked". It is left to the loop's own measure instead."""
    watch = StallWatch(0.1)  # its thread not started: _follow is called as it would
    stale = watch.beat
    watch.beat = stale + 0.2  # the loop ticked again before the first look
    watch._follow(stale)
    assert list(watch.reports) == []
    watch.ended(stale, watch.beat, 0.167)  # the loop's measure: no collection in it
    watch._report_missed()
    assert list(watch.reports) == []
