"""/metrics, request ids and log lines: what an operator reads."""

from __future__ import annotations

import gc
import json
import logging
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from seatserver import logs
from seatserver.http.errors import error_middleware
from tests.realtime.conftest import ClientFactory
from tests.support import eventually


async def scrape(http: aiohttp.ClientSession, base_url: str) -> dict[tuple[str, str], float]:
    """Every sample as (name, labels as 'k=v,...') -> value."""
    async with http.get(f"{base_url}/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    return {(s.name, ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_metrics_count_commands_frames_and_feed_reads(
        http: aiohttp.ClientSession, base_url: str, connect: ClientFactory, showtime: int,
        seats: list[str]) -> None:
    watcher, buyer = await connect(), await connect()
    await watcher.subscribe(showtime)
    before = await scrape(http, base_url)
    assert (await buyer.hold(showtime, seats[:2]))["ok"]
    # Seen before the release: otherwise one feed read may carry both as one update.
    await eventually(lambda: watcher.views[showtime].held == set(seats[:2]))
    assert (await buyer.release(showtime, seats[:1]))["ok"]
    await eventually(lambda: watcher.views[showtime].held == {seats[1]})
    after = await scrape(http, base_url)

    def grew(name: str, labels: str = "") -> float:
        return after[(name, labels)] - before.get((name, labels), 0.0)

    assert grew("seatserver_command_seconds_count", "op=hold") == 1
    assert grew("seatserver_command_seconds_count", "op=release") == 1
    assert grew("seatserver_redis_script_seconds_count") >= 2  # the hold's, the release's
    assert after[("seatserver_command_seconds_bucket", "le=+Inf,op=hold")] == after[
        ("seatserver_command_seconds_count", "op=hold")]
    # The watcher got two updates and the buyer two acks, at least.
    assert grew("seatserver_frames_out_total") >= 4
    assert grew("seatserver_bytes_out_total") > 100
    assert grew("seatserver_feed_lag_seconds_count") >= 1
    assert after[("seatserver_connections", "")] == 2
    assert after[("seatserver_subscribers", "")] == 1
    assert after[("seatserver_backend_errors_total", "service=postgresql")] == 0
    # The stall watch runs by default and counts stalls by cause (none here).
    assert {labels for name, labels in after
            if name == "seatserver_loop_stalls_reported_total"} == {
        "cause=gc", "cause=busy", "cause=crowded", "cause=blocked", "cause=unknown"}


async def test_metrics_count_the_garbage_collectors_pauses(
        http: aiohttp.ClientSession, base_url: str) -> None:
    before = await scrape(http, base_url)
    gc.collect()  # a full collection: generation 2
    after = await scrape(http, base_url)
    full = "generation=2"
    assert after[("seatserver_gc_collections_total", full)] >= before[
        ("seatserver_gc_collections_total", full)] + 1
    assert after[("seatserver_gc_pause_seconds_total", full)] > before[
        ("seatserver_gc_pause_seconds_total", full)]
    assert after[("seatserver_gc_pause_max_ms", full)] > 0


async def test_every_response_carries_a_request_id_and_keeps_a_given_one(
        http: aiohttp.ClientSession, base_url: str) -> None:
    async with http.get(f"{base_url}/api/showtimes") as resp:
        made = resp.headers["X-Request-Id"]
    assert len(made) == 16
    async with http.get(f"{base_url}/api/showtimes",
                        headers={"X-Request-Id": "lb-abc-123"}) as resp:
        assert resp.headers["X-Request-Id"] == "lb-abc-123"
    async with http.post(f"{base_url}/api/sessions") as resp:
        token = (await resp.json())["token"]
    async with http.ws_connect(f"{base_url}/ws", protocols=["seats.v1.json"],
                               headers={"Authorization": f"Bearer {token}",
                                        "X-Request-Id": "ws-42"}) as ws:
        assert ws._response.headers["X-Request-Id"] == "ws-42"


async def test_lost_database_answers_503_unavailable_with_retry_after() -> None:
    async def handler(request: web.Request) -> web.Response:
        raise asyncpg.exceptions.CannotConnectNowError("the database system is starting up")

    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/x", handler)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/x")
        assert resp.status == 503
        assert resp.headers["Retry-After"] == "1"
        assert (await resp.json())["error"]["code"] == "unavailable"


def test_json_log_lines_carry_the_request_id_and_the_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    saved = logging.getLogger().handlers[:], logging.getLogger().level
    try:
        logs.configure("json")
        token = logs.request_id.set("req-7")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("seatserver.test").exception("it failed for %s", "C7")
        finally:
            logs.request_id.reset(token)
    finally:
        logging.getLogger().handlers[:], level = saved
        logging.getLogger().setLevel(level)
    line: dict[str, Any] = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["message"] == "it failed for C7"
    assert line["level"] == "error" and line["logger"] == "seatserver.test"
    assert line["request_id"] == "req-7"
    assert "ValueError: boom" in line["error"]


def test_unknown_log_format_is_refused() -> None:
    with pytest.raises(ValueError, match="json"):
        logs.configure("xml")
