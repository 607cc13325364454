"""WaiterRegistry: what a buyer's socket is told while it waits, and in what
order, when the position ticks and a subscribe's join interleave."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

from redis.asyncio import Redis

from seatserver.realtime.connection import Connection
from seatserver.realtime.waiters import WaiterRegistry
from seatserver.waiting.engine import Place, QueueEngine, RoomStatus
from tests.waiting.conftest import KEEP_MS, ST, admitter, sale


class Socket:
    """What the registry uses of a connection: its holder, whether it is
    closed, and the frames sent to it."""

    def __init__(self, holder: str) -> None:
        self.holder = holder
        self.closed = False
        self.frames: list[dict[str, Any]] = []

    def send(self, frame: dict[str, Any]) -> None:
        self.frames.append(frame)


class HeldStatus(QueueEngine):
    """The real engine, but the room's status that ``enter`` reads after its
    join (the one asked for no holder) waits until the test lets it go."""

    def __init__(self, redis: Redis) -> None:
        super().__init__(redis)
        self.asked = asyncio.Event()
        self.go = asyncio.Event()

    async def status(self, showtime: int, holders: Sequence[str]
                     ) -> tuple[RoomStatus, list[Place]]:
        if not holders:
            self.asked.set()
            await self.go.wait()
        return await super().status(showtime, holders)


def kinds(socket: Socket) -> list[str]:
    return [f"{f['t']}:{f.get('state', '')}" for f in socket.frames]


async def test_an_admission_told_by_a_tick_is_not_followed_by_the_joins_stale_place(
        redis: Redis) -> None:
    """A tick that runs while a subscribe's join waits for the room's status
    must not be contradicted by that join's older answer ("waiting" after
    "admitted" sent the picker back to the waiting page until the next tick)."""
    queue = HeldStatus(redis)
    await queue.configure(sale(cap=1), KEEP_MS)
    registry = WaiterRegistry(queue, update_s=0.0)
    buyer = Socket("buyer")
    entering = asyncio.create_task(registry.enter(cast(Connection, buyer), ST))
    await asyncio.wait_for(queue.asked.wait(), 5)  # joined: "waiting", and reading the room
    assert (await admitter(queue).step(ST)).holders == ("buyer",)
    await registry.tick()
    queue.go.set()
    state = await asyncio.wait_for(entering, 5)

    assert kinds(buyer)[-1] == "admitted:", kinds(buyer)
    assert "admitted:" not in kinds(buyer)[:-1], kinds(buyer)
    assert state == "admitted"
    await registry.tick()  # followed as admitted: nothing more to say
    assert kinds(buyer).count("admitted:") == 1, kinds(buyer)


async def test_a_socket_closed_while_its_join_reads_the_room_is_not_followed(
        redis: Redis) -> None:
    queue = HeldStatus(redis)
    await queue.configure(sale(cap=1), KEEP_MS)
    await queue.join(ST, "ahead")
    registry = WaiterRegistry(queue, update_s=0.0)
    buyer = Socket("buyer")
    entering = asyncio.create_task(registry.enter(cast(Connection, buyer), ST))
    await asyncio.wait_for(queue.asked.wait(), 5)
    buyer.closed = True
    registry.drop(cast(Connection, buyer))  # what the socket's handler does on close
    queue.go.set()
    await asyncio.wait_for(entering, 5)

    assert registry.showtimes_of(cast(Connection, buyer)) == set()
    assert registry.waiting == 0 and buyer.frames == []  # nothing sent to a closed socket
