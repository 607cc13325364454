"""The server's own latencies, from its ``/metrics`` histograms scraped
before and after the run: what it measured beside what the clients saw.

``seatserver serve --workers N`` runs N processes on one port, and each
scrape is answered by one of them (the kernel picks by connection). So each
address is scraped several times, each on a new connection, and every
process is told apart by its histograms (they change only under traffic,
and the scrapes come while the run is not going); the figures are the sum
over the processes seen. If the scrapes before and after did not see the
same processes, the report says so rather than guess.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

SCRAPES_PER_URL = 8  # two processes: both seen but in 1 of 128 runs
TIMEOUT = aiohttp.ClientTimeout(total=5)

# What the report sets side by side: (client figure, server histogram and
# label filter, what the server's figure covers).
PAIRS: dict[str, tuple[str | None, str, dict[str, str], str]] = {
    "hold": ("hold", "seatserver_command_seconds", {"op": "hold"},
             "a parsed hold command to its ack written"),
    "release": (None, "seatserver_command_seconds", {"op": "release"},
                "a parsed release command to its ack written"),
    "redis_script": (None, "seatserver_redis_script_seconds", {},
                     "a hold script's call to its reply: the batch's wait for the loop, "
                     "the round trip and Redis' own time"),
    "checkout": ("checkout", "seatserver_checkout_seconds", {},
                 "the booking request (POST .../bookings) alone, every outcome; the "
                 "client's checkout also pays on the provider's page"),
    "feed_lag": ("fanout", "seatserver_feed_lag_seconds", {},
                 "a stream entry written to its read by the instance: the time before "
                 "the update is stamped (ts), where the clients' fan-out delay starts"),
}

# (histogram family, labels other than le) -> upper bound -> cumulative count
Buckets = dict[tuple[str, frozenset[tuple[str, str]]], dict[float, float]]


@dataclass
class Scrape:
    """The histograms of every process seen, summed."""

    buckets: Buckets = field(default_factory=dict)
    sums: dict[tuple[str, frozenset[tuple[str, str]]], float] = field(default_factory=dict)
    processes: int = 0
    errors: list[str] = field(default_factory=list)


def parse(text: str) -> tuple[Buckets, dict[tuple[str, frozenset[tuple[str, str]]], float]]:
    buckets: Buckets = defaultdict(dict)
    sums: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        if family.type != "histogram":
            continue
        for sample in family.samples:
            labels = frozenset((k, v) for k, v in sample.labels.items() if k != "le")
            key = (family.name, labels)
            if sample.name.endswith("_bucket"):
                buckets[key][float(sample.labels["le"])] = sample.value
            elif sample.name.endswith("_sum"):
                sums[key] = sample.value
    return dict(buckets), sums


async def scrape(urls: Sequence[str], token: str | None) -> Scrape:
    """Every process behind ``urls`` that answered, summed."""
    out = Scrape()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    seen: set[str] = set()
    # A new connection each time: the kernel spreads them over the processes.
    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT,
                                     cookie_jar=aiohttp.DummyCookieJar()) as http:
        for url in urls:
            for _ in range(SCRAPES_PER_URL):
                try:
                    async with http.get(url, headers=headers) as resp:
                        body = await resp.text()
                        if resp.status != 200:
                            out.errors.append(f"{url} answered {resp.status}: {body[:200]}")
                            break
                except (aiohttp.ClientError, TimeoutError) as exc:
                    out.errors.append(f"cannot scrape {url}: {exc!r}")
                    break
                buckets, sums = parse(body)
                fingerprint = repr(sorted((k[0], sorted(k[1]), sorted(v.items()))
                                          for k, v in buckets.items()))
                if fingerprint in seen:
                    continue
                seen.add(fingerprint)
                out.processes += 1
                _add(out, buckets, sums)
                await asyncio.sleep(0)
    return out


def _add(out: Scrape, buckets: Buckets, sums: dict[tuple[str, frozenset[tuple[str, str]]],
                                                    float]) -> None:
    for key, counts in buckets.items():
        into = out.buckets.setdefault(key, {})
        for le, n in counts.items():
            into[le] = into.get(le, 0.0) + n
    for key, value in sums.items():
        out.sums[key] = out.sums.get(key, 0.0) + value


def quantile(q: float, cumulative: Sequence[tuple[float, float]]) -> float | None:
    """Prometheus' histogram_quantile: linear within the bucket that holds
    the q-th observation; in the last (+Inf) bucket, the highest finite bound."""
    total = cumulative[-1][1] if cumulative else 0.0
    if total <= 0:
        return None
    rank, low, below = q * total, 0.0, 0.0
    for le, n in cumulative:
        if n >= rank:
            if le == float("inf"):
                return low
            return low + (le - low) * ((rank - below) / (n - below) if n > below else 1.0)
        low, below = le, n
    return low


def _figures(before: Scrape, after: Scrape, family: str,
             labels: dict[str, str]) -> dict[str, Any] | None:
    want = set(labels.items())
    delta: dict[float, float] = defaultdict(float)
    total_sum = 0.0
    for key, counts in after.buckets.items():
        if key[0] != family or not want <= set(key[1]):
            continue
        old = before.buckets.get(key, {})
        for le, n in counts.items():
            delta[le] += n - old.get(le, 0.0)
        total_sum += after.sums.get(key, 0.0) - before.sums.get(key, 0.0)
    if not delta:
        return None
    cumulative = sorted(delta.items())
    count = cumulative[-1][1]
    out: dict[str, Any] = {"count": int(count)}
    if count > 0:
        out["mean_ms"] = round(total_sum / count * 1000, 3)
        for p in (50, 90, 99):
            value = quantile(p / 100, cumulative)
            out[f"p{p}_ms"] = None if value is None else round(value * 1000, 3)
    return out


def compare(before: Scrape, after: Scrape, client: dict[str, dict[str, Any]],
            urls: Sequence[str]) -> dict[str, Any]:
    """The report's ``server_latency``: per pair, the server's figures over
    the run beside the clients'."""
    notes = [*before.errors, *after.errors]
    if before.processes != after.processes:
        notes.append(f"the scrapes before and after saw {before.processes} and "
                     f"{after.processes} server processes: the figures may miss one")
    rows = {}
    for name, (mine, family, labels, covers) in PAIRS.items():
        figures = _figures(before, after, family, labels)
        if figures is None:
            continue
        if any(v is not None and v < 0 for k, v in figures.items() if k != "mean_ms"):
            notes.append(f"{family}: counts went down (a server restarted during the run?)")
        rows[name] = {"server": figures, "server_covers": covers,
                      "client": None if mine is None else {
                          k: client.get(mine, {}).get(k) for k in
                          ("count", "p50_ms", "p90_ms", "p99_ms")},
                      "client_metric": mine}
    return {"urls": list(urls), "processes": after.processes, "notes": notes,
            "available": bool(rows), "pairs": rows,
            "how": "server histograms' bucket counts after the run less before, summed "
                   "over the processes seen; percentiles interpolated within buckets "
                   "(Prometheus' histogram_quantile), so they are as coarse as the "
                   "buckets (docs/operations.md)"}
