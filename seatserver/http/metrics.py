"""``/metrics`` in the Prometheus text format, and who may read it.

What it serves is the collector the app hands it (``seatserver.metrics``).
"""

from __future__ import annotations

import hmac
import ipaddress

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from seatserver.errors import Forbidden
from seatserver.http.errors import error_response
from seatserver.http.openapi import describe
from seatserver.http.roles import Role, allow


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

    def __init__(self, collector: Collector, token: str | None = None) -> None:
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
            refused = error_response(
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
