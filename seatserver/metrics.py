"""/metrics in the Prometheus text format, collected when scraped.

The collector reads the counters the running parts already keep, so serving
metrics adds nothing to the hold path or the fan-out.
"""

from __future__ import annotations

from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from seatserver.changefeed import ChangeFeed
from seatserver.loop_lag import LoopLagMonitor
from seatserver.realtime.rooms import RoomRegistry
from seatserver.realtime.view import SocketView


class SeatCollector(Collector):
    def __init__(self, sockets: SocketView, rooms: RoomRegistry, feed: ChangeFeed,
                 lag: LoopLagMonitor) -> None:
        self._sockets = sockets
        self._rooms = rooms
        self._feed = feed
        self._lag = lag

    def collect(self) -> Iterator[Metric]:
        rooms = self._rooms.rooms.values()
        yield GaugeMetricFamily("seatserver_connections", "Open WebSocket connections",
                                value=len(self._sockets.connections))
        yield GaugeMetricFamily("seatserver_rooms", "Showtimes with local subscribers",
                                value=len(rooms))
        yield GaugeMetricFamily(
            "seatserver_subscribers", "Subscriptions across rooms",
            value=sum(len(r.members) + len(r.pending) + len(r.summaries) for r in rooms))
        cut = CounterMetricFamily("seatserver_disconnects", "Connections cut off",
                                  labels=["cause"])
        cut.add_metric(["too_slow"], self._sockets.stats.too_slow)
        cut.add_metric(["flooding"], self._sockets.stats.flooding)
        yield cut
        yield GaugeMetricFamily("seatserver_feed_healthy", "1 when the change feed reads",
                                value=1 if self._feed.healthy else 0)
        yield GaugeMetricFamily("seatserver_loop_lag_max_ms",
                                "Longest event-loop stall seen", value=self._lag.max_lag_ms)
        yield CounterMetricFamily("seatserver_loop_stalls_over_100ms",
                                  "Event-loop stalls longer than 100 ms",
                                  value=self._lag.stalls_over_100ms)


class MetricsHandlers:
    def __init__(self, collector: SeatCollector) -> None:
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(collector)

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self._registry),
                            content_type="text/plain", charset="utf-8")

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/metrics", self.metrics)]
