"""Who may read /metrics (issue 13, point 12): with SEATSERVER_METRICS_TOKEN set,
only a scraper with that Bearer token; without it, only a local one (a
loopback peer that no proxy forwarded). Against a whole app over HTTP."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from seatserver.app import create_app
from seatserver.settings import Settings, SettingsError

TOKEN = "s3cret-metrics-token-0123456789"
Start = Callable[..., Awaitable[TestServer]]


@pytest.fixture
def settings(redis_url: str, database_url: str, tmp_path: Path) -> Settings:
    return Settings(redis_url=redis_url, database_url=database_url, data_dir=tmp_path / "d")


@pytest.fixture
def start(aiohttp_server: Any, settings: Settings) -> Start:
    async def start(host: str = "127.0.0.1", **overrides: Any) -> TestServer:
        app = create_app(settings.replace(**overrides))
        server: TestServer = await aiohttp_server(app, host=host)
        return server
    return start


async def scrape(url: str, **headers: str) -> tuple[int, aiohttp.typedefs.LooseHeaders, str]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        return resp.status, resp.headers, await resp.text()


def outward_address() -> str:
    """This machine's address on its default route (not loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
        address: str = probe.getsockname()[0]
    assert not address.startswith("127."), "this test needs a non-loopback address"
    return address


async def test_with_a_token_metrics_answers_only_with_it(start: Start) -> None:
    server = await start(metrics_token=TOKEN)
    url = str(server.make_url("/metrics"))

    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": "Bearer é"}):
        status, answer, body = await scrape(url, **headers)
        assert status == 401, headers
        assert answer["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert '"unauthorized"' in body
    status, _, body = await scrape(url, Authorization=f"Bearer {TOKEN}")
    assert status == 200
    assert "seatserver_connections" in body


async def test_without_a_token_metrics_answers_local_scrapers_only(start: Start) -> None:
    local = await start()
    status, _, body = await scrape(str(local.make_url("/metrics")))
    assert (status, "seatserver_connections" in body) == (200, True)

    # A proxy on this machine passing a public request on: not local.
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        status, _, body = await scrape(str(local.make_url("/metrics")), **{header: "1.2.3.4"})
        assert (status, '"forbidden"' in body) == (403, True), header

    address = outward_address()
    everywhere = await start(host="0.0.0.0")  # reached from outside on purpose
    status, _, body = await scrape(f"http://{address}:{everywhere.port}/metrics")
    assert status == 403
    assert "SEATSERVER_METRICS_TOKEN" in body


@pytest.mark.parametrize("token", ["short", "with a space in it 0123", "tab\tin-it-0123456789"])
def test_a_weak_or_malformed_metrics_token_stops_the_server(token: str) -> None:
    with pytest.raises(SettingsError, match="SEATSERVER_METRICS_TOKEN"):
        Settings.from_env({"SEATSERVER_METRICS_TOKEN": token})
