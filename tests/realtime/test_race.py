"""Many clients racing for few seats: one holder per seat, and every view agrees."""

from __future__ import annotations

import asyncio
import random

from aiohttp.test_utils import TestServer

from seatserver.holds.setup import ENGINE
from seatserver.loadgen.client import SeatClient
from tests.realtime.conftest import ClientFactory
from tests.support import eventually

CLIENTS, SEATS = 200, 20


async def race(clients: list[SeatClient], showtime: int, seats: list[str]
               ) -> dict[str, list[int]]:
    """Every client tries every seat in its own random order; returns who won each."""
    won: dict[str, list[int]] = {seat: [] for seat in seats}

    async def clicker(i: int, client: SeatClient) -> None:
        for seat in random.Random(i).sample(seats, len(seats)):
            ack = await client.hold(showtime, [seat])
            if ack["ok"]:
                won[seat].append(i)
            else:
                assert ack["code"] in ("seats_unavailable", "too_many_seats"), ack

    await asyncio.gather(*(clicker(i, c) for i, c in enumerate(clients)))
    return won


async def audit(clients: list[SeatClient], showtime: int, truth: set[str],
                won: dict[str, list[int]]) -> None:
    """No seat has two holders, and every client ends up seeing the server's state."""
    assert all(len(holders) == 1 for holders in won.values()), won
    assert truth == set(won)
    await eventually(lambda: all(c.views[showtime].held == truth for c in clients), within=10)
    assert [c.violations for c in clients if c.violations] == []


async def test_200_clients_race_for_20_seats(connect: ClientFactory, showtime: int,
                                             seats: list[str], server: TestServer) -> None:
    clients = list(await asyncio.gather(*(connect() for _ in range(CLIENTS))))
    await asyncio.gather(*(c.subscribe(showtime) for c in clients))
    won = await race(clients, showtime, seats[:SEATS])
    snap = await server.app[ENGINE].snapshot(showtime)
    await audit(clients, showtime, set(snap.held), won)
