"""The figures /metrics serves (``http.metrics``), collected when scraped.

The collector reads the counters the running parts already keep, so serving
metrics adds nothing to the hold path or the fan-out. It reads every feature,
so it stands above them all, beside ``app``; the route is at the edge.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from seatserver.bookings.checkout import Checkout
from seatserver.changefeed import ChangeFeed
from seatserver.holds import HoldEngine
from seatserver.http import errors as http_errors
from seatserver.latency import Histogram
from seatserver.loop_lag import CAUSES, LoopLagMonitor
from seatserver.outbox import worker as outbox
from seatserver.realtime.commands import Commands
from seatserver.realtime.rooms import RoomRegistry
from seatserver.realtime.view import SocketView
from seatserver.settings import worker_index
from seatserver.webhooks.collector import EventCollector
from seatserver.webhooks.sender import WebhookSender


def _histogram(name: str, doc: str, label: str, by: dict[str, Histogram]) -> Metric:
    family = HistogramMetricFamily(name, doc, labels=[label] if label else None)
    for value, histogram in by.items():
        family.add_metric([value] if label else [], histogram.cumulative(), histogram.sum)
    return family


class SeatCollector(Collector):
    def __init__(self, sockets: SocketView, rooms: RoomRegistry, feed: ChangeFeed,
                 lag: LoopLagMonitor, commands: Commands, engine: HoldEngine,
                 checkout: Checkout, webhooks: WebhookSender | None = None,
                 webhook_events: EventCollector | None = None) -> None:
        self._sockets = sockets
        self._rooms = rooms
        self._feed = feed
        self._lag = lag
        self._commands = commands
        self._engine = engine
        self._checkout = checkout
        self._webhooks = webhooks
        self._webhook_events = webhook_events

    def collect(self) -> Iterator[Metric]:
        this = GaugeMetricFamily(
            "seatserver_process", "The process answering: its pid and worker index "
            "(serve --workers N shares one port; SEATSERVER_METRICS_PORT gives each its own)",
            labels=["pid", "worker"])
        this.add_metric([str(os.getpid()), str(worker_index())], 1)
        yield this
        rooms = self._rooms.stats()
        yield GaugeMetricFamily("seatserver_connections", "Open WebSocket connections",
                                value=len(self._sockets.connections))
        yield GaugeMetricFamily("seatserver_rooms", "Showtimes with local subscribers",
                                value=rooms.rooms)
        yield GaugeMetricFamily(
            "seatserver_subscribers", "Subscriptions across rooms",
            value=rooms.subscribers)
        cut = CounterMetricFamily("seatserver_disconnects", "Connections cut off",
                                  labels=["cause"])
        cut.add_metric(["too_slow"], self._sockets.stats.too_slow)
        cut.add_metric(["flooding"], self._sockets.stats.flooding)
        cut.add_metric(["too_many_sockets"], self._sockets.stats.too_many_sockets)
        yield cut
        stats = self._sockets.stats
        yield CounterMetricFamily("seatserver_frames_out", "WebSocket frames written",
                                  value=stats.frames_out)
        yield CounterMetricFamily("seatserver_bytes_out", "WebSocket bytes written",
                                  value=stats.bytes_out)
        yield _histogram("seatserver_command_seconds",
                         "From a parsed hold or release to its ack written", "op",
                         self._commands.latency)
        yield _histogram("seatserver_redis_script_seconds",
                         "From a hold script's call to its reply (batching, round trip, "
                         "Redis)", "", {"": self._engine.script_latency})
        yield _histogram("seatserver_checkout_seconds",
                         "A checkout request (POST .../bookings) from receipt to answer",
                         "outcome", self._checkout.latency)
        yield _histogram("seatserver_feed_lag_seconds",
                         "From a stream entry's id (Redis' clock) to its read", "",
                         {"": self._feed.lag})
        errors = CounterMetricFamily("seatserver_backend_errors",
                                     "Calls that found a backing service unavailable",
                                     labels=["service"])
        errors.add_metric(["redis_scripts"], self._engine.redis_errors)
        errors.add_metric(["redis_feed"], self._feed.errors)
        errors.add_metric(["postgresql"], http_errors.counts.database)
        yield errors
        deliveries = CounterMetricFamily(
            "seatserver_outbox_deliveries",
            "Outbox messages by outcome: sent, retried (a temporary failure: 4xx, "
            "connection refused, timeout) or dead (a 5xx refusal, or out of attempts)",
            labels=["outcome"])
        for outcome in ("sent", "retried", "dead"):
            deliveries.add_metric([outcome], getattr(outbox.counts, outcome))
        yield deliveries
        if self._webhooks is not None:
            yield from self._webhook_metrics(self._webhooks)
        if self._webhook_events is not None:
            yield CounterMetricFamily(
                "seatserver_webhook_events", "Webhook events this instance collected",
                value=self._webhook_events.collected)
            yield CounterMetricFamily(
                "seatserver_webhook_stream_gaps",
                "Collector rounds that found a stream trimmed past its cursor",
                value=self._webhook_events.gaps)
        yield CounterMetricFamily("seatserver_http_internal_errors",
                                  "HTTP requests answered 500", value=http_errors.counts.internal)
        yield GaugeMetricFamily("seatserver_feed_healthy", "1 when the change feed reads",
                                value=1 if self._feed.healthy else 0)
        yield GaugeMetricFamily("seatserver_loop_lag_max_ms",
                                "Longest event-loop stall seen", value=self._lag.max_lag_ms)
        yield CounterMetricFamily("seatserver_loop_stalls_over_100ms",
                                  "Event-loop stalls longer than 100 ms",
                                  value=self._lag.stalls_over_100ms)
        watch = self._lag.watch
        if watch is not None:
            reported = CounterMetricFamily(
                "seatserver_loop_stalls_reported",
                "Event-loop stalls past SEATSERVER_STALL_REPORT_MS, by what the loop's "
                "thread did most: gc (garbage collection), busy (ran), crowded (waited for "
                "a core), blocked (slept)",
                labels=["cause"])
            for cause in CAUSES:
                reported.add_metric([cause], watch.by_cause[cause])
            yield reported
        pauses = self._lag.gc
        collections = CounterMetricFamily("seatserver_gc_collections",
                                          "Garbage collections", labels=["generation"])
        paused = CounterMetricFamily("seatserver_gc_pause_seconds",
                                     "Time the garbage collector paused the process",
                                     labels=["generation"])
        longest = GaugeMetricFamily("seatserver_gc_pause_max_ms",
                                    "Longest garbage-collection pause", labels=["generation"])
        for generation in range(len(pauses.collections)):
            label = [str(generation)]
            collections.add_metric(label, pauses.collections[generation])
            paused.add_metric(label, pauses.seconds[generation])
            longest.add_metric(label, pauses.longest_ms[generation])
        yield collections
        yield paused
        yield longest

    @staticmethod
    def _webhook_metrics(sender: WebhookSender) -> Iterator[Metric]:
        attempts = CounterMetricFamily("seatserver_webhook_attempts",
                                       "Webhook requests sent, by outcome", labels=["outcome"])
        attempts.add_metric(["delivered"], sender.delivered)
        attempts.add_metric(["failed"], sender.failed)
        yield attempts
        yield CounterMetricFamily("seatserver_webhook_dead",
                                  "Webhook deliveries given up after their last attempt",
                                  value=sender.dead)
        yield GaugeMetricFamily("seatserver_webhook_in_flight",
                                "Webhook requests waiting for an answer",
                                value=sender.in_flight)
