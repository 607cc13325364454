"""Histogram: latencies counted into fixed buckets, cheap enough for the hold path.

prometheus-client's own Histogram takes a lock and walks its buckets on every
observation; this one is a bisect and two additions (single-threaded: one
event loop per process), and ``/metrics`` exports it as a Prometheus
histogram when scraped.
"""

from __future__ import annotations

from bisect import bisect_left

# Seconds: sub-millisecond hold acks up to multi-second checkouts.
BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
          10.0)
# Seconds, finer: round trips that should take a millisecond or two.
FINE_BOUNDS = (0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005,
               0.0075, 0.01, 0.025, 0.1, 1.0)


class Histogram:
    def __init__(self, bounds: tuple[float, ...] = BOUNDS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        """Prometheus buckets: (upper bound, observations at or below it), +Inf last."""
        out, running = [], 0
        for bound, n in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            running += n
            out.append((bound, float(running)))
        return out


class Histograms(dict[str, Histogram]):
    """Histograms by the value of one label, each made on first use: for labels
    with a closed set of values (outcomes, error codes)."""

    def observe(self, label: str, seconds: float) -> None:
        histogram = self.get(label)
        if histogram is None:
            histogram = self[label] = Histogram()
        histogram.observe(seconds)
