"""Latency histograms and counters: recorded by workers, merged by the parent.

Latencies go into HdrHistograms in microseconds (1 µs to 1 h, 3 significant
digits, i.e. within 0.1 %). A worker sends what it recorded during each
second of the run, encoded; the parent adds them up, into the run's totals
and into per-second figures. Percentiles are only ever read from merged
histograms, never averaged across workers.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000
DIGITS = 3

# What is timed, and what each histogram's samples are (see docs/loadgen.md).
METRICS: dict[str, str] = {
    "hold": "hold round trip: hold sent to its ack",
    "fanout": "fan-out delay: the server's stamp (ts) of an update to its receipt",
    "checkout": "checkout: booking requested to the payment's outcome seen",
    "connect": "connect: guest session, WebSocket upgrade and first snapshot",
    "queue": "queue wait: joined a waiting room to told it was admitted",
}
PERCENTILES = (50.0, 90.0, 99.0, 99.9)
# Values below 2**SUB_BUCKET_BITS µs are told apart one by one; above, a
# histogram of DIGITS significant digits keeps the top SUB_BUCKET_BITS bits.
SUB_BUCKET_BITS = math.ceil(math.log2(2 * 10 ** DIGITS))


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def record_ms(histogram: HdrHistogram, ms: float) -> None:
    """Record a latency in ms; below 1 µs counts as 1 µs, past an hour as an hour."""
    histogram.record_value(min(HIGHEST_US, max(LOWEST_US, round(ms * 1000))))


def summary(histogram: HdrHistogram) -> dict[str, Any]:
    """Count, mean, min, max and the usual percentiles, in milliseconds."""
    count = histogram.get_total_count()
    if not count:
        return {"count": 0}
    values = histogram.get_percentile_to_value_dict(list(PERCENTILES))
    out: dict[str, Any] = {
        "count": count,
        "min_ms": histogram.get_min_value() / 1000,
        "mean_ms": round(histogram.get_mean_value() / 1000, 3),
        "max_ms": histogram.get_max_value() / 1000,
    }
    for p in PERCENTILES:
        out[f"p{p:g}_ms"] = values[p] / 1000
    return out


def buckets(histogram: HdrHistogram, per_decade: int = 10) -> list[tuple[float, float, int]]:
    """Counts in log-spaced bins: (low ms, high ms, count), empty bins included
    between the first and the last that has a sample."""
    counts: Counter[int] = Counter()
    for index in range(histogram.counts_len):
        n = histogram.get_count_at_index(index)
        if n:
            value = histogram.get_value_from_index(index)
            counts[_bin(value, per_decade)] += n
    if not counts:
        return []
    low, high = min(counts), max(counts)
    return [(_edge(b, per_decade) / 1000, _edge(b + 1, per_decade) / 1000, counts.get(b, 0))
            for b in range(low, high + 1)]


def _bin(value_us: int, per_decade: int) -> int:
    b = int(math.log10(max(1, value_us)) * per_decade)
    # log10's rounding must not move a value across an edge.
    while b > 0 and _edge(b, per_decade) > value_us:
        b -= 1
    while _edge(b + 1, per_decade) <= value_us:
        b += 1
    return b


def _edge(b: int, per_decade: int) -> float:
    return float(10 ** (b / per_decade))


def error_codes(counters: Counter[str] | dict[str, int]) -> dict[str, dict[str, int]]:
    """``{"hold": {"seats_unavailable": 3}, ...}`` from ``hold.refused.<code>``
    and ``<action>.failed.<code>`` counters; answers that made a step try
    again (``<action>.retried.<code>``) under ``"<action> retried"``."""
    out: dict[str, dict[str, int]] = {}
    for name, n in counters.items():
        action, _, rest = name.partition(".")
        kind, _, code = rest.partition(".")
        if kind == "retried":
            action = f"{action} retried"
        if kind in ("refused", "failed", "retried") and code and n:
            out.setdefault(action, {})[code] = out.get(action, {}).get(code, 0) + n
    return out


# Holds the server refused under its seats-per-address cap (a part of
# hold.refused.too_many_seats, told apart by the ack's message).
ADDRESS_CAP_COUNTER = "limits.seats_per_address"
# What the server's abuse limits look like from here, and the setting that
# raises each: a load test runs many buyers from one address, which a server
# configured for the public refuses.
LIMIT_HINTS = (
    ("visit.failed.rate_limited", "new guest sessions refused (rate_limited)",
     "SEATSERVER_GUEST_SESSIONS_PER_MINUTE"),
    (ADDRESS_CAP_COUNTER, "holds refused by the seats-per-address cap (too_many_seats)",
     "SEATSERVER_MAX_SEATS_PER_ADDRESS"),
)


def server_limits(counters: Counter[str] | dict[str, int]) -> list[dict[str, Any]]:
    """The server's per-address limits that refused this run, with their counts
    and the setting to raise on the server for a load test (docs/loadgen.md)."""
    return [{"what": what, "count": counters.get(name, 0), "setting": setting}
            for name, what, setting in LIMIT_HINTS if counters.get(name, 0)]


class Recorder:
    """One worker's figures for the second in progress (then handed over and reset)."""

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.histograms = {name: new_histogram() for name in METRICS}
        self.connected = 0
        self.last_update = 0.0
        # Smallest (receipt - server stamp) seen: an upper bound of how far
        # our clock is ahead of the server's (ms); used to place deadlines.
        self.clock_ahead_ms: float | None = None
        # Fan-out delays (µs, cut to the histogram's resolution) -> how many:
        # one per update received, so counted here and put in the histogram
        # once a second (HdrHistogram.record_value costs ~1.5 µs a call).
        self._fanout_us: dict[int, int] = {}

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    def latency(self, metric: str, ms: float) -> None:
        record_ms(self.histograms[metric], ms)

    def fanout(self, delay_ms: float) -> None:
        self.counters["update"] += 1
        self.last_update = time.monotonic()
        if self.clock_ahead_ms is None or delay_ms < self.clock_ahead_ms:
            self.clock_ahead_ms = delay_ms
        if delay_ms < 0:
            # The server's clock is ahead of ours: the delay cannot be measured
            # below zero; counted so that the report can say so.
            self.counters["fanout.negative"] += 1
            delay_ms = 0.0
        us = min(HIGHEST_US, max(LOWEST_US, round(delay_ms * 1000)))
        cut = us.bit_length() - SUB_BUCKET_BITS
        if cut > 0:
            us = us >> cut << cut  # the same histogram bucket as before the cut
        counts = self._fanout_us
        counts[us] = counts.get(us, 0) + 1

    def take(self) -> tuple[dict[str, int], dict[str, str]]:
        """This second's counters and encoded histograms; starts the next second."""
        counters = dict(self.counters)
        fanout = self.histograms["fanout"]
        for us, n in self._fanout_us.items():
            fanout.record_value(us, n)
        self._fanout_us = {}
        encoded = {name: h.encode().decode("ascii")
                   for name, h in self.histograms.items() if h.get_total_count()}
        self.counters = Counter()
        for name in encoded:  # only those that counted: a reset clears every bucket
            self.histograms[name].reset()
        return counters, encoded


@dataclass
class Tick:
    """What one worker recorded in one second of the run."""

    worker: int
    second: int
    counters: dict[str, int]
    histograms: dict[str, str]
    connected: int
    exhausted: bool = False
    cpu_s: float = 0.0  # the worker's CPU time in this second
    loop_lag_ms: float = 0.0  # its event loop's longest stall in this second


@dataclass
class Second:
    """One second of the run, all workers merged."""

    counters: Counter[str] = field(default_factory=Counter)
    histograms: dict[str, HdrHistogram] = field(default_factory=dict)
    connected: dict[int, int] = field(default_factory=dict)
    cpu_s: float = 0.0
    loop_lag_ms: float = 0.0


class Aggregate:
    """The run's figures so far: totals, merged histograms, per-second series."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.totals: Counter[str] = Counter()
        self.histograms = {name: new_histogram() for name in METRICS}
        self.connected: dict[int, int] = {}
        self.exhausted: set[int] = set()
        self._open: dict[int, Second] = {}
        self._latest: dict[int, int] = {}
        self.series: list[dict[str, Any]] = []

    def add(self, tick: Tick) -> None:
        self.totals.update(tick.counters)
        self.connected[tick.worker] = tick.connected
        if tick.exhausted:
            self.exhausted.add(tick.worker)
        second = self._open.setdefault(tick.second, Second())
        second.counters.update(tick.counters)
        second.connected[tick.worker] = tick.connected
        second.cpu_s += tick.cpu_s
        second.loop_lag_ms = max(second.loop_lag_ms, tick.loop_lag_ms)
        for name, blob in tick.histograms.items():
            histogram = HdrHistogram.decode(blob)
            self.histograms[name].add(histogram)
            second.histograms.setdefault(name, new_histogram()).add(histogram)
        self._latest[tick.worker] = max(tick.second, self._latest.get(tick.worker, -1))
        if len(self._latest) == self.workers:
            self._close_before(min(self._latest.values()))

    def finish(self) -> None:
        self._close_before(None)

    def _close_before(self, second: int | None) -> None:
        for k in sorted(self._open):
            if second is not None and k >= second:
                break
            self.series.append(_row(k, self._open.pop(k)))

    @property
    def connected_now(self) -> int:
        return sum(self.connected.values())

    def percentile_ms(self, metric: str, p: float) -> float | None:
        h = self.histograms[metric]
        return h.get_value_at_percentile(p) / 1000 if h.get_total_count() else None


def _row(k: int, second: Second) -> dict[str, Any]:
    c = second.counters
    row: dict[str, Any] = {
        "t": k,
        "connected": sum(second.connected.values()),
        "holds_ok": c.get("hold.ok", 0),
        "holds_refused": sum(n for name, n in c.items() if name.startswith("hold.refused.")),
        "updates": c.get("update", 0),
        "checkouts_booked": c.get("checkout.booked", 0),
        "checkouts_declined": c.get("checkout.declined", 0),
        "checkouts_failed": sum(n for name, n in c.items()
                                if name.startswith("checkout.failed.")),
        "loadgen_cpu_s": round(second.cpu_s, 4),
        "loop_lag_max_ms": round(second.loop_lag_ms, 1),
    }
    for name in ("hold", "fanout", "checkout"):
        h = second.histograms.get(name)
        if h is not None and h.get_total_count():
            values = h.get_percentile_to_value_dict([50.0, 99.0])
            row[f"{name}_p50_ms"] = values[50.0] / 1000
            row[f"{name}_p99_ms"] = values[99.0] / 1000
    return row
