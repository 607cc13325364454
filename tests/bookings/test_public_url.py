"""Where the payment provider sends buyers back and posts webhooks comes from
configuration (SEATSERVER_PUBLIC_URL), never from the request's Host header;
a malformed Host answers 400 on every route."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from seatserver.loadgen.client import SeatClient
from seatserver.settings import Settings, SettingsError
from tests.bookings.conftest import Buyer
from tests.support import eventually

BuyerFactory = Callable[..., Awaitable[Buyer]]
BAD_HOSTS = ["", "exa_mple.com:99999", "127.0.0.1:0", "a b", "[::1", "[::g]:80", "x:",
             "ex\u00e4mple.com", "h" * 300, "127.0.0.1:\u0661"]


async def _held(buyer: Buyer, showtime: int, seats: list[str]) -> None:
    async with SeatClient(buyer.http, buyer.base, buyer.token) as client:
        assert (await client.hold(showtime, seats))["ok"] is True


async def _raw(port: int, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """One request written byte for byte (aiohttp's client would fix the Host)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head.encode("utf-8", "surrogateescape")
                 + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    answer = await reader.read()
    writer.close()
    status = int(answer.split(b" ", 2)[1])
    return status, answer.partition(b"\r\n\r\n")[2]


@pytest.fixture
async def trap(aiohttp_server: Any) -> tuple[TestServer, list[str]]:
    """A server an attacker controls: records whatever reaches it."""
    seen: list[str] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(f"{request.method} {request.path_qs}")
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    server: TestServer = await aiohttp_server(app)
    return server, seen


async def test_checkout_with_another_host_calls_back_and_returns_to_the_public_url(
        buyer_at: BuyerFactory, server: TestServer, base_url: str, showtime: int,
        seats: list[str], db_pool: asyncpg.Pool, trap: tuple[TestServer, list[str]]) -> None:
    trap_server, seen = trap
    buyer = await buyer_at(base_url)
    await _held(buyer, showtime, seats[:2])
    assert server.port is not None
    status, body = await _raw(
        server.port,
        f"POST /api/showtimes/{showtime}/bookings HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{trap_server.port}\r\nAuthorization: Bearer {buyer.token}\r\n"
        f"Idempotency-Key: {secrets.token_hex(4)}\r\nContent-Type: application/json\r\n",
        b'{"email": "buyer@example.com"}')
    assert status == 201, body
    reference = re.search(rb'"reference":"(\w+)"', body)
    assert reference is not None
    async with db_pool.acquire() as conn:
        order = await conn.fetchrow(
            "SELECT order_id, return_url, webhook_url FROM sim_provider_orders "
            "WHERE reference = $1", reference[1].decode())
    assert (order["return_url"], order["webhook_url"]) == (
        f"{base_url}/api/payments/simulated/return",
        f"{base_url}/api/payments/simulated/webhook")

    async with buyer.http.post(f"{base_url}/pay/{order['order_id']}/pay",
                               allow_redirects=False) as resp:
        assert resp.headers["Location"].startswith(f"{base_url}/api/payments/simulated/return?")

    async def booked() -> bool:  # by the webhook, posted to the public URL
        return bool((await buyer.booking(reference[1].decode()))["status"] == "booked")
    await eventually(booked)
    assert seen == []


@pytest.mark.parametrize("host", BAD_HOSTS)
async def test_malformed_host_answers_400_on_every_route(
        server: TestServer, buyer_at: BuyerFactory, base_url: str, showtime: int,
        seats: list[str], host: str) -> None:
    buyer = await buyer_at(base_url)
    await _held(buyer, showtime, seats[:1])
    assert server.port is not None
    paths = {"GET": ["/ws", "/api/nowhere"]}
    for route in server.app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        path = re.sub(r"\{[^}]*\}", "1", route.resource.canonical)
        paths.setdefault(route.method, []).append(path)
    paths["POST"].append(f"/api/showtimes/{showtime}/bookings")  # was a 500
    for method, some in paths.items():
        for path in some:
            status, body = await _raw(
                server.port, f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {buyer.token}\r\nIdempotency-Key: k\r\n"
                "Content-Type: application/json\r\n", b"{}")
            assert (status, body[:40]) == (400, b'{"error":{"code":"bad_request","message"'), \
                (method, path)
    # The buyer's seats are still held, and a well-formed Host is served.
    status, _ = await buyer.checkout(showtime, "after-bad-hosts", seats[:1])
    assert status == 201


async def test_host_with_a_nul_byte_is_refused_by_the_parser(server: TestServer) -> None:
    assert server.port is not None
    status, _ = await _raw(server.port, "GET /api/showtimes HTTP/1.1\r\nHost: a\x00b\r\n")
    assert status == 400


async def test_well_formed_hosts_are_served(server: TestServer) -> None:
    assert server.port is not None
    for host in ("localhost", f"127.0.0.1:{server.port}", "[::1]:8080", "tickets.example.com",
                 "exa_mple.com:443", "a.b.c."):
        status, _ = await _raw(server.port, f"GET /api/showtimes HTTP/1.1\r\nHost: {host}\r\n")
        assert status == 200, host


async def test_default_public_url_is_the_address_served(
        aiohttp_client: Any, http: aiohttp.ClientSession) -> None:
    assert Settings().public_origin == "http://localhost:8080"
    assert Settings(host="127.0.0.1", port=9001).public_origin == "http://127.0.0.1:9001"
    assert Settings(host="::1", port=9001).public_origin == "http://[::1]:9001"
    assert Settings(public_url="https://tickets.example.com").public_origin \
        == "https://tickets.example.com"


@pytest.mark.parametrize(("given", "kept"), [
    ("https://Tickets.Example.com/", "https://tickets.example.com"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("http://[::1]:9000", "http://[::1]:9000"),
])
def test_public_url_setting_is_normalised(given: str, kept: str) -> None:
    assert Settings.from_env({"SEATSERVER_PUBLIC_URL": given}).public_url == kept


@pytest.mark.parametrize("given", [
    "tickets.example.com", "ftp://tickets.example.com", "https://tickets.example.com/shop",
    "https://tickets.example.com?x=1", "https://tickets.example.com#top",
    "https://user:pw@tickets.example.com", "https://exa_mple.com", "http://x:99999",
    "http://x:0", "http://x:\uff18\uff10", "http://", "https://ex\u00e4mple.com", "http://a\x00b",
    "http://" + "a" * 300,
])
def test_public_url_setting_refuses_anything_but_scheme_host_port(given: str) -> None:
    with pytest.raises(SettingsError, match="SEATSERVER_PUBLIC_URL"):
        Settings.from_env({"SEATSERVER_PUBLIC_URL": given})
