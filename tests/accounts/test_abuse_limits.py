"""Abuse limits through the wire: concurrent log-ins, guest sessions per
address, sockets per session, and e-mail address changes."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from seatserver.loadgen.client import SeatClient
from seatserver.realtime.connection import CLOSE_POLICY
from tests.accounts.conftest import (
    PASSWORD,
    Visitor,
    VisitorFactory,
    link_token,
    message_to,
    new_email,
)
from tests.realtime.conftest import ServerFactory
from tests.support import eventually

LOCAL_PROXY = (ipaddress.ip_network("127.0.0.1/32"),)
ServerVisitors = Callable[[TestServer], Awaitable[Visitor]]


@pytest.fixture
async def visitor_of() -> AsyncIterator[ServerVisitors]:
    """Visitors of a server a test started with settings of its own."""
    sessions: list[aiohttp.ClientSession] = []

    async def make(server: TestServer) -> Visitor:
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                        connector=aiohttp.TCPConnector(limit=0))
        sessions.append(session)
        return Visitor(session, str(server.make_url("/")).rstrip("/"))

    yield make
    for session in sessions:
        await session.close()


# Log-ins (issue 13, point 5)

async def test_concurrent_wrong_log_ins_get_exactly_the_limit_checked_and_the_rest_429(
        make_server: ServerFactory, visitor_of: ServerVisitors) -> None:
    server = await make_server(login_limit_account=5, login_limit_address=30)
    email = new_email()
    await (await visitor_of(server)).register(email)
    mallory = await visitor_of(server)

    answers = await asyncio.gather(*(
        mallory.call("POST", "/api/auth/login", {"email": email, "password": f"guess {n:04}"})
        for n in range(20)))

    statuses = sorted(status for status, _ in answers)
    assert statuses == [401] * 5 + [429] * 15
    owner = await visitor_of(server)
    status, body = await owner.call("POST", "/api/auth/login",
                                    {"email": email, "password": PASSWORD})
    assert (status, body["error"]["code"]) == (429, "rate_limited")
    assert 1 <= int(owner.headers["Retry-After"]) <= 60


async def test_successful_log_ins_do_not_use_up_the_addresses_limit(
        make_server: ServerFactory, visitor_of: ServerVisitors) -> None:
    # An office behind one address: many people log in; only failures count.
    server = await make_server(login_limit_account=5, login_limit_address=3)
    email = new_email()
    await (await visitor_of(server)).register(email)

    for _ in range(6):
        await (await visitor_of(server)).log_in(email)


async def test_hostile_log_in_fields_are_answered_not_crashed(
        visitor: VisitorFactory) -> None:
    mallory = await visitor()
    for body in ({"email": "١٢@example.com", "password": "p"},
                 {"email": "a@example.com", "password": "p" * 257},
                 {"email": 12, "password": 99999999999999999999999}):
        status, answer = await mallory.call("POST", "/api/auth/login", body)
        assert status in (401, 422, 429), (body, status, answer)


# Guest sessions per address (point 4)

async def test_guest_sessions_past_the_limit_get_429_with_retry_after(
        make_server: ServerFactory, visitor_of: ServerVisitors) -> None:
    server = await make_server(guest_sessions_per_minute=5, trusted_proxies=LOCAL_PROXY)
    visitor = await visitor_of(server)
    answers = [await visitor.call("POST", "/api/sessions") for _ in range(5)]
    assert [status for status, _ in answers] == [201] * 5

    status, body = await visitor.call("POST", "/api/sessions")

    assert (status, body["error"]["code"]) == (429, "rate_limited")
    assert 1 <= int(visitor.headers["Retry-After"]) <= 60
    # Another client behind the trusted proxy is not affected.
    elsewhere = await visitor_of(server)
    status, _ = await elsewhere.call("POST", "/api/sessions",
                                     headers={"X-Forwarded-For": "198.51.100.23"})
    assert status == 201


async def test_a_forwarded_for_header_does_not_escape_the_limit_without_a_trusted_proxy(
        make_server: ServerFactory, visitor_of: ServerVisitors) -> None:
    server = await make_server(guest_sessions_per_minute=2)
    visitor = await visitor_of(server)
    statuses = [(await visitor.call("POST", "/api/sessions",
                                    headers={"X-Forwarded-For": f"198.51.100.{n}"}))[0]
                for n in range(3)]

    assert statuses == [201, 201, 429]


async def test_hostile_forwarded_for_values_count_against_the_peer(
        make_server: ServerFactory, visitor_of: ServerVisitors) -> None:
    server = await make_server(guest_sessions_per_minute=2, trusted_proxies=LOCAL_PROXY)
    visitor = await visitor_of(server)
    statuses = [(await visitor.call("POST", "/api/sessions",
                                    headers={"X-Forwarded-For": forged}))[0]
                for forged in ("not-an-address", "9" * 5000, "١٢٧.0.0.1")]

    assert statuses == [201, 201, 429]


async def test_one_ipv6_subscriber_prefix_shares_one_session_limit(
        make_server: ServerFactory, visitor_of: ServerVisitors) -> None:
    server = await make_server(guest_sessions_per_minute=2, trusted_proxies=LOCAL_PROXY)
    visitor = await visitor_of(server)

    statuses = [(await visitor.call("POST", "/api/sessions",
                                    headers={"X-Forwarded-For": address}))[0]
                for address in ("2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:a::3",
                                "2001:db8:1:3::1")]

    assert statuses == [201, 201, 429, 201]


# Sockets per session (point 4)

async def test_sockets_past_the_sessions_cap_are_told_and_closed(
        make_server: ServerFactory, demo: list[int], visitor_of: ServerVisitors,
        http: aiohttp.ClientSession) -> None:
    server = await make_server(max_sockets_per_session=2)
    base = str(server.make_url("/")).rstrip("/")
    guest = await visitor_of(server)
    await guest.guest()
    token = guest.token
    assert token is not None
    opened = [await SeatClient(http, base, token).connect() for _ in range(2)]
    extra = SeatClient(http, base, token)
    extra.keep_frames = True
    await extra.connect()

    await eventually(lambda: extra.closed)
    assert extra.ws is not None and extra.ws.close_code == CLOSE_POLICY
    assert [e["code"] for e in extra.errors] == ["rate_limited"]
    assert "at most 2 connections per session" in extra.errors[0]["message"]
    for client in opened:  # the ones within the cap are untouched
        assert (await client.request("ping"))["t"] == "pong"

    await opened[0].close()

    async def a_socket_is_free() -> bool:
        again = await SeatClient(http, base, token).connect()
        try:
            return (await again.request("ping"))["t"] == "pong"
        finally:
            await again.close()

    await eventually(a_socket_is_free, within=5.0, interval=0.1)
    other = await visitor_of(server)
    await other.guest()
    assert other.token is not None
    async with SeatClient(http, base, other.token) as client:  # per session, not per address
        assert (await client.request("ping"))["t"] == "pong"
    await opened[1].close()


# E-mail changes (point 6)

async def test_an_email_change_needs_the_current_password(visitor: VisitorFactory) -> None:
    alice = await visitor()
    await alice.register(new_email())
    for hostile in ({"email": "x\u0000y@example.com", "current_password": PASSWORD},
                    {"email": new_email(), "current_password": "\u0000" * 300},
                    {"email": new_email(), "current_password": 12345678},
                    {"email": "١٢٣@example.com", "current_password": "p" * 257}):
        status, body = await alice.call("PATCH", "/api/me", hostile)
        assert status in (400, 401, 422), (hostile, status, body)

    missing = await alice.call("PATCH", "/api/me", {"email": new_email()})
    wrong = await alice.call("PATCH", "/api/me", {"email": new_email(),
                                                  "current_password": "not it at all"})

    assert (missing[0], missing[1]["error"]["code"]) == (422, "invalid_input")
    assert "current_password" in missing[1]["error"]["message"]
    assert (wrong[0], wrong[1]["error"]["code"]) == (401, "invalid_credentials")
    _, me = await alice.call("GET", "/api/me")
    assert me["email_pending"] is None


async def test_email_changes_past_the_limit_are_refused_with_retry_after(
        make_server: ServerFactory, visitor_of: ServerVisitors) -> None:
    server = await make_server(email_change_limit=3)
    alice = await visitor_of(server)
    await alice.register(new_email())

    statuses = [(await alice.call("PATCH", "/api/me", {"email": new_email(),
                                                       "current_password": PASSWORD}))[0]
                for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    assert 1 <= int(alice.headers["Retry-After"]) <= 60


async def test_guessing_the_password_through_the_email_change_meets_the_log_in_limit(
        visitor: VisitorFactory) -> None:
    alice = await visitor()
    email = new_email()
    await alice.register(email)

    statuses = [(await alice.call("PATCH", "/api/me", {"email": new_email(),
                                                       "current_password": f"guess {n}"}))[0]
                for n in range(3)]  # email_change_limit's default: 3

    assert statuses == [401, 401, 401]  # login_limit_account = 3 in these tests
    status, _ = await (await visitor()).call("POST", "/api/auth/login",
                                             {"email": email, "password": PASSWORD})
    assert status == 429


async def test_the_owner_of_a_taken_address_is_told_and_can_still_confirm_nothing(
        visitor: VisitorFactory, outbox_dir: Path) -> None:
    owner_email = new_email()
    owner = await visitor()
    await owner.register(owner_email)
    mallory = await visitor()
    await mallory.register(new_email())

    status, me = await mallory.call("PATCH", "/api/me", {"email": owner_email,
                                                         "current_password": PASSWORD})

    assert (status, me["email_pending"]) == (200, owner_email)
    notice = await message_to(outbox_dir, owner_email, "account_email_in_use")
    assert "Nothing has changed" in notice
    # The owner's own sign-up link still works: the address stays theirs.
    token = link_token(await message_to(outbox_dir, owner_email, "account_verify_email"),
                       "confirm")
    status, body = await owner.call("POST", "/api/auth/email/confirm", {"token": token})
    assert (status, body["email"]) == (200, owner_email)
