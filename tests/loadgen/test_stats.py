"""Histograms merged across workers give the percentiles of all the samples."""

from __future__ import annotations

import itertools
import random

from hdrh.histogram import HdrHistogram

from seatserver.loadgen import charts
from seatserver.loadgen.stats import Aggregate, Recorder, Tick, buckets, new_histogram, record_ms


def test_merged_worker_histograms_give_the_percentiles_of_all_samples() -> None:
    rng = random.Random(3)
    # Two workers with very different latencies: averaging their p99s would lie.
    fast = [rng.uniform(1, 2) for _ in range(9000)]
    slow = [rng.uniform(100, 200) for _ in range(1000)]
    workers = [Recorder(), Recorder()]
    for ms in fast:
        workers[0].latency("hold", ms)
    for ms in slow:
        workers[1].latency("hold", ms)
    agg = Aggregate(2)
    for i, recorder in enumerate(workers):
        counters, encoded = recorder.take()
        agg.add(Tick(i, 0, counters, encoded, connected=5))
    agg.finish()

    everything = sorted(fast + slow)
    for p in (50, 90, 99):
        exact = everything[int(len(everything) * p / 100) - 1]
        merged = agg.percentile_ms("hold", p)
        assert merged is not None and abs(merged - exact) <= exact * 0.002 + 0.002, (p, merged)
    assert agg.series[0]["connected"] == 10
    assert agg.histograms["hold"].get_total_count() == 10_000


def test_a_second_closes_once_every_worker_has_moved_past_it() -> None:
    agg = Aggregate(2)
    recorder = Recorder()
    recorder.count("hold.ok", 3)
    counters, encoded = recorder.take()
    agg.add(Tick(0, 0, counters, encoded, connected=1))
    agg.add(Tick(0, 1, {}, {}, connected=1))
    assert agg.series == []  # worker 1 has not reported second 0 yet
    agg.add(Tick(1, 0, {"hold.ok": 2}, {}, connected=1))
    agg.add(Tick(1, 1, {}, {}, connected=1))
    assert [row["holds_ok"] for row in agg.series] == [5]
    agg.finish()
    assert [row["t"] for row in agg.series] == [0, 1]


def test_log_buckets_hold_every_sample_once() -> None:
    h = new_histogram()
    for ms in (0.0005, 0.01, 1.0, 1.0, 9.99, 10.0, 250.0, 3_600_000.0):
        record_ms(h, ms)
    bins = buckets(h)

    assert sum(n for _, _, n in bins) == 8
    assert all(lo < hi for lo, hi, _ in bins)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bins))


def test_charts_draw_empty_and_single_point_data() -> None:
    assert "no samples" in charts.histogram("t", "a", [], [])
    assert "no data" in charts.lines("t", "b", [charts.Line("x", [])], "s", "ms")
    one = charts.lines("Holds", "c", [charts.Line("ok", [(0, 3.0)])], "seconds", "holds")
    assert "<circle" in one and "seconds" in one and "Holds" in one


def test_fanout_delays_land_in_the_buckets_each_would_alone() -> None:
    rng = random.Random(3)
    delays = [rng.choice([rng.uniform(0, 3), rng.uniform(0, 500), rng.expovariate(1 / 40)])
              for _ in range(20_000)] + [-2.0, 0.0, 4e9]
    recorder = Recorder()
    for delay in delays:
        recorder.fanout(delay)
    counters, encoded = recorder.take()
    alone = new_histogram()
    for delay in delays:
        record_ms(alone, max(0.0, delay))
    got = HdrHistogram.decode(encoded["fanout"])
    assert counters["update"] == len(delays) and counters["fanout.negative"] == 1
    assert got.get_total_count() == alone.get_total_count()
    assert [(v.value_iterated_to, v.count_at_value_iterated_to)
            for v in got.get_recorded_iterator()] == [
        (v.value_iterated_to, v.count_at_value_iterated_to)
        for v in alone.get_recorded_iterator()]
