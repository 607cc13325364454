"""Accounts on a Redis Cluster: a guest's holds on two masters follow it into
its account, and log-in limits count across the cluster."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from seatserver.loadgen.client import SeatClient
from tests.accounts import conftest as accounts
from tests.accounts.conftest import VisitorFactory, new_email
from tests.cluster.conftest import Spread
from tests.support import eventually

visitor = accounts.visitor


async def seat_ids(http: aiohttp.ClientSession, base: str, showtime: int) -> list[str]:
    async with http.get(f"{base}/api/showtimes/{showtime}") as resp:
        body: dict[str, Any] = await resp.json()
    return [seat["id"] for seat in body["seats"]]


async def test_a_guests_holds_on_two_masters_follow_it_into_its_account(
        visitor: VisitorFactory, server: TestServer, spread: Spread,
        http: aiohttp.ClientSession) -> None:
    base = str(server.make_url("/")).rstrip("/")
    email = new_email()
    await (await visitor()).register(email)
    alice = await visitor()
    await alice.guest()
    assert alice.token is not None
    shows = (spread.a, spread.c)
    wanted = {show: (await seat_ids(http, base, show))[:2] for show in shows}
    async with SeatClient(http, base, alice.token) as guest:
        for show in shows:
            assert (await guest.hold(show, wanted[show]))["ok"] is True

    body = await alice.log_in(email)

    assert body["linked"]["seats"] == 4
    assert alice.token is not None
    async with SeatClient(http, base, alice.token) as account:
        for show in shows:
            assert (await account.subscribe(show))["ok"] is True
            view = account.views[show]
            await eventually(lambda view=view: view.snapshots > 0)
            assert sorted(view.mine) == sorted(wanted[show])


async def test_failed_log_ins_are_limited_on_a_cluster(
        visitor: VisitorFactory, server: TestServer) -> None:
    email = new_email()
    await (await visitor()).register(email)
    mallory = await visitor()
    statuses = []
    for _ in range(6):  # login_limit_account: 5 by default
        status, _ = await mallory.call("POST", "/api/auth/login",
                                       {"email": email, "password": "guess guess"})
        statuses.append(status)

    assert statuses == [401] * 5 + [429]
    assert int(mallory.headers["Retry-After"]) >= 1
