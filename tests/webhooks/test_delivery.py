"""Delivery: signed, in order per showtime, at least once, through failures and restarts."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import asyncpg
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from seatserver.loadgen.client import SeatClient
from tests.admin.conftest import Admin
from tests.realtime.conftest import ClientFactory, ServerFactory
from tests.support import eventually
from tests.webhooks.conftest import (
    TIMEOUT_S,
    AdminFactory,
    Receiver,
    ReceiverFactory,
    client_of,
    free_port,
    in_order,
    register,
    seats_of,
    url_of,
)

SEAT_EVENTS = ["seat.held", "seat.released", "seat.expired", "seat.booked"]


async def _churn(client: SeatClient, showtime: int, seats: list[str], rounds: int) -> None:
    """Hold and release each seat in turn: 2 events a seat and round."""
    for _ in range(rounds):
        for seat in seats:
            assert (await client.hold(showtime, [seat]))["ok"] is True
            assert (await client.release(showtime, [seat]))["ok"] is True


def _seat_story(messages: list[Any], showtime: int) -> list[tuple[str, str]]:
    return [(m.body["type"], m.body["data"]["seats"][0]) for m in messages
            if m.body["data"]["showtime"] == showtime]


async def test_seat_events_arrive_signed_in_stream_order(
        admin: Admin, receiver: Receiver, connect: ClientFactory, showtime: int,
        seats: list[str]) -> None:
    await register(admin, receiver, SEAT_EVENTS, showtime=showtime)
    client = await connect()
    await _churn(client, showtime, seats[:3], rounds=2)

    got = await receiver.wait_for(12)
    assert receiver.forged == []
    assert _seat_story(got, showtime) == [
        (kind, seat) for seat in seats[:3] for kind in ("seat.held", "seat.released")] * 2
    first = got[0].body
    assert first["type"] == "seat.held" and first["timestamp"].endswith("Z")
    assert set(first["data"]) == {"showtime", "seats", "reason", "offset", "expires_at"}
    offsets = [tuple(map(int, m.body["data"]["offset"].split("-"))) for m in got]
    assert offsets == sorted(offsets) and in_order(got)


async def test_failures_are_retried_until_delivered_without_reordering(
        admin: Admin, receiver: Receiver, connect: ClientFactory, showtime: int,
        seats: list[str], db_pool: asyncpg.Pool, http: aiohttp.ClientSession,
        base_url: str) -> None:
    # 500s, a request that hangs past the sender's timeout, a 429: each is
    # retried, and nothing after it overtakes it.
    receiver.plan = ["500", "500", "hang", "429", "ok", "503", "ok", "500"]
    await register(admin, receiver, SEAT_EVENTS)
    client = await connect()
    await _churn(client, showtime, seats[:4], rounds=1)

    got = await receiver.wait_for(8)
    assert _seat_story(got, showtime) == [
        (kind, seat) for seat in seats[:4] for kind in ("seat.held", "seat.released")]
    assert in_order(got) and receiver.forged == []
    async with db_pool.acquire() as conn:
        errors = [r["error"] for r in await conn.fetch(
            "SELECT error FROM webhook_attempts WHERE error IS NOT NULL ORDER BY id")]
    assert errors == ["HTTP 500", "HTTP 500", f"no answer within {TIMEOUT_S:g}s",
                      "HTTP 429", "HTTP 503", "HTTP 500"]

    async def counted() -> bool:
        async with http.get(f"{base_url}/metrics") as resp:
            metrics = await resp.text()
        return all(line in metrics for line in (
            'seatserver_webhook_attempts_total{outcome="failed"} 6.0',
            'seatserver_webhook_attempts_total{outcome="delivered"} 8.0',
            "seatserver_webhook_in_flight 0.0", "seatserver_webhook_events_total 8.0",
            "seatserver_webhook_stream_gaps_total 0.0"))
    await eventually(counted)


async def test_refused_connections_wait_for_the_endpoint_to_come_up(
        admin: Admin, receivers: ReceiverFactory, connect: ClientFactory, showtime: int,
        seats: list[str], db_pool: asyncpg.Pool) -> None:
    receiver = await receivers(started=False, port=free_port())
    await register(admin, receiver, SEAT_EVENTS)
    client = await connect()
    await _churn(client, showtime, seats[:2], rounds=1)

    async def refused_twice() -> bool:
        async with db_pool.acquire() as conn:
            return bool(await conn.fetchval(
                "SELECT count(*) >= 2 FROM webhook_attempts WHERE error LIKE '%onnect%'"))
    await eventually(refused_twice)
    await receiver.start()
    got = await receiver.wait_for(4)
    assert _seat_story(got, showtime) == [
        (kind, seat) for seat in seats[:2] for kind in ("seat.held", "seat.released")]


async def test_a_dead_delivery_lets_the_next_go_and_can_be_sent_again(
        admin_at: AdminFactory, receiver: Receiver, make_server: ServerFactory,
        showtime: int, http: aiohttp.ClientSession, db_pool: asyncpg.Pool) -> None:
    url = url_of(await make_server(webhook_max_attempts=3))
    admin = await admin_at(url)
    seats = await seats_of(http, url, showtime)
    endpoint = await register(admin, receiver, ["seat.held"])
    receiver.refuse = lambda body: body["data"]["seats"] == [seats[0]]
    client = await client_of(http, url)
    try:
        for seat in seats[:2]:
            assert (await client.hold(showtime, [seat]))["ok"] is True
        got = await receiver.wait_for(1)
    finally:
        await client.close()
    assert [m.body["data"]["seats"] for m in got] == [[seats[1]]]
    async with db_pool.acquire() as conn:
        dead = await conn.fetchrow("SELECT id, attempts, last_error FROM webhook_deliveries "
                                   "WHERE status = 'dead'")
    assert dead is not None and (dead["attempts"], dead["last_error"]) == (3, "HTTP 500")

    log = await admin.ok("GET", f"/api/admin/webhooks/{endpoint['id']}/deliveries?status=dead")
    [shown] = log["deliveries"]
    assert shown["id"] == dead["id"] and shown["status"] == "dead"
    assert [a["status_code"] for a in shown["log"]] == [500, 500, 500]
    assert all(a["error"] == "HTTP 500" and a["latency_ms"] >= 0 for a in shown["log"])

    receiver.refuse = lambda body: False
    await admin.ok("POST", f"/api/admin/webhooks/deliveries/{dead['id']}/resend")
    got = await receiver.wait_for(2)
    assert [m.body["data"]["seats"] for m in got] == [[seats[1]], [seats[0]]]
    assert got[1].id == shown["event"]["id"]  # the same webhook-id: receivers deduplicate


async def test_nothing_is_lost_or_reordered_across_a_restart(
        admin_at: AdminFactory, receiver: Receiver, make_server: ServerFactory,
        showtime: int, http: aiohttp.ClientSession) -> None:
    # The first instance collects nothing after its first round (an hour's
    # poll): the events wait in Redis for the second, whose endpoint first
    # answers 503s.
    first = await make_server(webhook_poll_s=3600)
    admin = await admin_at(url_of(first))
    seats = await seats_of(http, url_of(first), showtime)
    await register(admin, receiver, SEAT_EVENTS)
    await _churn_at(http, url_of(first), showtime, seats[:3], rounds=1)
    await first.close()
    assert receiver.requests == 0

    receiver.plan = ["503"] * 3
    second = await make_server()
    got = await receiver.wait_for(6)
    assert _seat_story(got, showtime) == [
        (kind, seat) for seat in seats[:3] for kind in ("seat.held", "seat.released")]
    # Mid-way through a backlog, the instance stops; a third one finishes.
    receiver.plan = ["hang"]
    await _churn_at(http, url_of(second), showtime, seats[3:5], rounds=2)
    await eventually(lambda: receiver.hanging == 1)
    await second.close()
    await make_server()
    got = await receiver.wait_for(14)
    assert in_order(got) and receiver.forged == []
    assert _seat_story(got, showtime)[6:] == [
        (kind, seat) for seat in seats[3:5] for kind in ("seat.held", "seat.released")] * 2


async def _churn_at(http: aiohttp.ClientSession, url: str, showtime: int, seats: list[str],
                    rounds: int) -> None:
    client = await client_of(http, url)
    try:
        await _churn(client, showtime, seats, rounds)
    finally:
        await client.close()


async def test_two_instances_send_each_event_once_in_order(
        admin: Admin, receiver: Receiver, make_server: ServerFactory, server: Any,
        connect: ClientFactory, showtime: int, seats: list[str]) -> None:
    other = await make_server()
    await register(admin, receiver, SEAT_EVENTS)
    here = await connect()
    there = await connect(str(other.make_url("/")).rstrip("/"))
    for seat in seats[:6]:
        client = here if seats.index(seat) % 2 else there
        assert (await client.hold(showtime, [seat]))["ok"] is True
    got = await receiver.wait_for(6)
    assert [m.body["data"]["seats"][0] for m in got] == seats[:6]
    assert len(receiver.accepted) == 6  # no failure, so no instance sent one twice


async def test_a_hanging_endpoint_does_not_slow_holds(
        admin_at: AdminFactory, receiver: Receiver, make_server: ServerFactory,
        showtime: int, http: aiohttp.ClientSession) -> None:
    # Requests hang for 5 s each before the sender gives up: a hold that
    # waited on a send would take that long.
    url = url_of(await make_server(webhook_timeout_s=5))
    admin = await admin_at(url)
    seats = await seats_of(http, url, showtime)
    receiver.plan = ["hang"] * 10_000
    await register(admin, receiver, SEAT_EVENTS)
    client = await client_of(http, url)
    try:
        assert (await client.hold(showtime, [seats[0]]))["ok"] is True
        await eventually(lambda: receiver.hanging >= 1)
        slowest = 0.0
        for seat in seats[1:41]:
            started = time.perf_counter()
            assert (await client.hold(showtime, [seat]))["ok"] is True
            assert (await client.release(showtime, [seat]))["ok"] is True
            slowest = max(slowest, time.perf_counter() - started)
            assert receiver.hanging >= 1  # the endpoint hangs all the while
    finally:
        await client.close()
    assert slowest < 1.0, slowest
    assert receiver.accepted == []


async def test_a_replayed_message_fails_verification(
        admin: Admin, receiver: Receiver, connect: ClientFactory, showtime: int,
        seats: list[str]) -> None:
    endpoint = await register(admin, receiver, ["seat.held"])
    client = await connect()
    assert (await client.hold(showtime, [seats[0]]))["ok"] is True
    await receiver.wait_for(1)
    body, headers = receiver.seen[0]
    Webhook(endpoint["secret"]).verify(body, headers)  # as sent: good
    stale = {**headers, "webhook-timestamp": str(int(time.time()) - 3600)}
    other_id = {**headers, "webhook-id": "msg_1"}
    for forged in (stale, other_id):
        with pytest.raises(WebhookVerificationError):
            Webhook(endpoint["secret"]).verify(body, forged)
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint["secret"]).verify(body.replace(b"seat.held", b"seat.booked"), headers)
