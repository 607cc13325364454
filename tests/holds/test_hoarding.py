"""One client holding a whole showtime, through the wire: the per-address
seat cap, checked by the hold script, refuses over WebSocket with
``too_many_seats`` and is freed by releases and expiries."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from seatserver.loadgen.client import SeatClient
from seatserver.settings import Settings
from tests.realtime import conftest as realtime
from tests.support import eventually

http = realtime.http
make_server = realtime.make_server
settings = realtime.settings

PUBLIC = Settings()  # the limits a cinema runs with, not the tests' raised ones
LOCAL_PROXY = (ipaddress.ip_network("127.0.0.1/32"),)


def url_of(server: TestServer) -> str:
    return str(server.make_url("/")).rstrip("/")


async def seat_ids(http: aiohttp.ClientSession, base: str, showtime: int) -> list[str]:
    async with http.get(f"{base}/api/showtimes/{showtime}") as resp:
        return [seat["id"] for seat in (await resp.json())["seats"]]


class Clients:
    """Guest clients of one server, each with a session of its own."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base
        self.opened: list[SeatClient] = []

    async def new(self, *, via: str | None = None) -> SeatClient:
        """A new guest; ``via``: the address a trusted proxy says it has."""
        headers = {"X-Forwarded-For": via} if via else {}
        async with self.http.post(self.base + "/api/sessions", headers=headers) as resp:
            assert resp.status == 201, await resp.text()
            token = (await resp.json())["token"]
        client = SeatClient(self.http, self.base, token, headers=headers)
        self.opened.append(await client.connect())
        return client

    async def close(self) -> None:
        for client in self.opened:
            await client.close()


@pytest.fixture
async def clients(http: aiohttp.ClientSession) -> Any:
    made: list[Clients] = []

    def make(server: TestServer) -> Clients:
        made.append(Clients(http, url_of(server)))
        return made[-1]

    yield make
    for group in made:
        await group.close()


async def test_twelve_sessions_from_one_address_cannot_hold_the_whole_showtime(
        make_server: realtime.ServerFactory, demo: list[int], http: aiohttp.ClientSession,
        clients: Any) -> None:
    # The report's exploit, on a server with the public defaults: twelve
    # guest sessions from one address, ten seats each, all at once.
    server = await make_server(max_seats=10,
                               guest_sessions_per_minute=PUBLIC.guest_sessions_per_minute,
                               max_seats_per_address=PUBLIC.max_seats_per_address)
    showtime = demo[0]
    seats = await seat_ids(http, url_of(server), showtime)
    group = clients(server)
    buyers = [await group.new() for _ in range(12)]

    acks = await asyncio.gather(*(
        buyer.hold(showtime, seats[10 * i:10 * i + 10]) for i, buyer in enumerate(buyers)))

    granted = [ack for ack in acks if ack["ok"]]
    assert len(granted) * 10 == PUBLIC.max_seats_per_address == 40
    assert {ack["code"] for ack in acks if not ack["ok"]} == {"too_many_seats"}
    watcher = buyers[0]
    await watcher.subscribe(showtime)
    assert len(watcher.views[showtime].held) == 40


async def test_address_cap_refuses_over_websocket_and_a_release_frees_quota(
        make_server: realtime.ServerFactory, demo: list[int], http: aiohttp.ClientSession,
        clients: Any) -> None:
    server = await make_server(max_seats=4, max_seats_per_address=6)
    showtime = demo[0]
    seats = await seat_ids(http, url_of(server), showtime)
    group = clients(server)
    alice, bob = await group.new(), await group.new()
    assert (await alice.hold(showtime, seats[0:4]))["ok"]
    assert (await bob.hold(showtime, seats[4:6]))["ok"]

    refused = await bob.hold(showtime, seats[6:7])
    assert (refused["ok"], refused["code"]) == (False, "too_many_seats")
    assert "at most 6 seats" in refused["message"] and "address" in refused["message"]

    assert (await alice.release(showtime, seats[0:1]))["ok"]
    assert (await bob.hold(showtime, seats[6:7]))["ok"]
    assert not (await bob.hold(showtime, seats[7:8]))["ok"]


async def test_expiry_frees_the_addresses_quota_over_websocket(
        make_server: realtime.ServerFactory, demo: list[int], http: aiohttp.ClientSession,
        clients: Any) -> None:
    server = await make_server(max_seats=4, max_seats_per_address=4, hold_ttl_s=1)
    showtime = demo[0]
    seats = await seat_ids(http, url_of(server), showtime)
    group = clients(server)
    alice, bob = await group.new(), await group.new()
    assert (await alice.hold(showtime, seats[0:4]))["ok"]
    assert (await bob.hold(showtime, seats[4:5]))["code"] == "too_many_seats"

    async def bob_gets_them() -> bool:
        ack = await bob.hold(showtime, seats[4:8])
        return bool(ack["ok"])

    await eventually(bob_gets_them, within=5.0, interval=0.2)


async def test_each_address_behind_a_trusted_proxy_has_its_own_cap(
        make_server: realtime.ServerFactory, demo: list[int], http: aiohttp.ClientSession,
        clients: Any) -> None:
    server = await make_server(max_seats=4, max_seats_per_address=4,
                               trusted_proxies=LOCAL_PROXY)
    showtime = demo[0]
    seats = await seat_ids(http, url_of(server), showtime)
    group = clients(server)
    home = [await group.new(via="198.51.100.1") for _ in range(2)]
    office = await group.new(via="198.51.100.2")

    assert (await home[0].hold(showtime, seats[0:4]))["ok"]
    assert (await home[1].hold(showtime, seats[4:5]))["code"] == "too_many_seats"
    assert (await office.hold(showtime, seats[4:8]))["ok"]


async def test_a_forwarded_for_header_from_an_untrusted_peer_is_not_believed(
        make_server: realtime.ServerFactory, demo: list[int], http: aiohttp.ClientSession,
        clients: Any) -> None:
    server = await make_server(max_seats=4, max_seats_per_address=4)  # no trusted proxy
    showtime = demo[0]
    seats = await seat_ids(http, url_of(server), showtime)
    group = clients(server)
    first = await group.new(via="198.51.100.1")
    forged = await group.new(via="198.51.100.2")

    assert (await first.hold(showtime, seats[0:4]))["ok"]
    assert (await forged.hold(showtime, seats[4:5]))["code"] == "too_many_seats"


async def test_one_ipv6_subscriber_prefix_is_one_address(
        make_server: realtime.ServerFactory, demo: list[int], http: aiohttp.ClientSession,
        clients: Any) -> None:
    server = await make_server(max_seats=4, max_seats_per_address=4,
                               trusted_proxies=LOCAL_PROXY)
    showtime = demo[0]
    seats = await seat_ids(http, url_of(server), showtime)
    group = clients(server)
    first = await group.new(via="2001:db8:5:6::1")
    same_line = await group.new(via="2001:db8:5:6:ffff::2")
    other_line = await group.new(via="2001:db8:5:7::1")

    assert (await first.hold(showtime, seats[0:4]))["ok"]
    assert (await same_line.hold(showtime, seats[4:5]))["code"] == "too_many_seats"
    assert (await other_line.hold(showtime, seats[4:8]))["ok"]
