"""/metrics in the Prometheus text format, collected when scraped.

The collector reads the counters the running parts already keep, so serving
metrics adds nothing to the hold path or the fan-out.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from seatserver import http_errors
from seatserver.accounts.rbac import Role, allow
from seatserver.bookings.checkout import Checkout
from seatserver.changefeed import ChangeFeed
from seatserver.errors import Forbidden
from seatserver.holds import HoldEngine
from seatserver.latency import Histogram
from seatserver.loop_lag import LoopLagMonitor
from seatserver.openapi import describe
from seatserver.realtime.commands import Commands
from seatserver.realtime.rooms import RoomRegistry
from seatserver.realtime.view import SocketView


def _histogram(name: str, doc: str, label: str, by: dict[str, Histogram]) -> Metric:
    family = HistogramMetricFamily(name, doc, labels=[label] if label else None)
    for value, histogram in by.items():
        family.add_metric([value] if label else [], histogram.cumulative(), histogram.sum)
    return family


class SeatCollector(Collector):
    def __init__(self, sockets: SocketView, rooms: RoomRegistry, feed: ChangeFeed,
                 lag: LoopLagMonitor, commands: Commands, engine: HoldEngine,
                 checkout: Checkout) -> None:
        self._sockets = sockets
        self._rooms = rooms
        self._feed = feed
        self._lag = lag
        self._commands = commands
        self._engine = engine
        self._checkout = checkout

    def collect(self) -> Iterator[Metric]:
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
        yield CounterMetricFamily("seatserver_http_internal_errors",
                                  "HTTP requests answered 500", value=http_errors.counts.internal)
        yield GaugeMetricFamily("seatserver_feed_healthy", "1 when the change feed reads",
                                value=1 if self._feed.healthy else 0)
        yield GaugeMetricFamily("seatserver_loop_lag_max_ms",
                                "Longest event-loop stall seen", value=self._lag.max_lag_ms)
        yield CounterMetricFamily("seatserver_loop_stalls_over_100ms",
                                  "Event-loop stalls longer than 100 ms",
                                  value=self._lag.stalls_over_100ms)


class MetricsHandlers:
    """``/metrics``: for a scraper with ``token`` as its Bearer token, or, when
    no token is configured, for a local one only.

    Scrapers carry no session, so the token is theirs alone. Without one, only
    a request straight from this machine is answered: its peer is a loopback
    address and it carries no forwarding header (a proxy on this machine that
    passes on public requests adds one). That keeps ``make run``, the benchmarks
    and a node-local agent working with no configuration, and never opens the
    figures to the internet by default.
    """

    def __init__(self, collector: SeatCollector, token: str | None = None) -> None:
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(collector)
        self._token = None if token is None else token.encode()

    @allow(Role.ANONYMOUS)
    @describe("Prometheus metrics: with `Authorization: Bearer <SEATSERVER_METRICS_TOKEN>`, "
              "or, when no token is configured, to local scrapers only.",
              content="text/plain", errors=[401, 403])
    async def metrics(self, request: web.Request) -> web.Response:
        if self._token is None and not _local(request):
            raise Forbidden("/metrics answers local scrapers only; set "
                            "SEATSERVER_METRICS_TOKEN to scrape it from elsewhere")
        if self._token is not None and not self._authorized(request):
            refused = http_errors.error_response(
                401, "unauthorized",
                "/metrics needs Authorization: Bearer <SEATSERVER_METRICS_TOKEN>")
            refused.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return refused
        return web.Response(body=generate_latest(self._registry),
                            content_type="text/plain", charset="utf-8")

    def _authorized(self, request: web.Request) -> bool:
        assert self._token is not None
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        # In constant time, and as bytes: compare_digest refuses non-ASCII str.
        given = credentials.strip().encode("utf-8", "replace")
        return scheme.lower() == "bearer" and hmac.compare_digest(given, self._token)

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/metrics", self.metrics)]


# Headers a proxy adds when it passes a request on: such a request is not local.
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def _local(request: web.Request) -> bool:
    """Straight from this machine: a loopback peer, nothing forwarded."""
    if any(name in request.headers for name in FORWARDING_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False  # a Unix socket or no peer: not judged local
