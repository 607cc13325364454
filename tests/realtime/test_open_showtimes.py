"""A showtime with no waiting room and no on-sale time costs an arriving
buyer no Redis step to join or leave the (absent) queue: the instance knows
from its last read of the sale settings (Admitter.may_gate). One that gates
still does, and a change made on this instance applies at once."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from seatserver import redis_keys
from seatserver.waiting.setup import ADMITTER
from tests.realtime.conftest import ClientFactory
from tests.realtime.test_waiting_room import admin_token, set_sale
from tests.support import eventually

__all__ = ["admin_token"]  # a fixture these tests use

ARRIVING = 10


class QueueSteps:
    """Scripts run on a showtime's waiting-room keys, seen through MONITOR:
    the queue's scripts name its sale key first (the hold scripts name it
    too, further on, as they check admissions)."""

    def __init__(self, redis: Redis, showtime: int) -> None:
        self._redis = redis
        self._first_key = redis_keys.queue_keys(showtime)[0]
        self.seen = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> QueueSteps:
        ready = asyncio.Event()

        async def watch() -> None:
            async with self._redis.monitor() as monitor:
                ready.set()
                while True:
                    words = (await monitor.next_command())["command"].split(" ", 4)
                    if words[0] in ("EVALSHA", "EVAL") and words[3:4] == [self._first_key]:
                        self.seen += 1

        self._task = asyncio.create_task(watch())
        await asyncio.wait_for(ready.wait(), 5)
        await asyncio.sleep(0.2)  # MONITOR is on once its reply came; give it that
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.sleep(0.3)  # the last closes' steps run in the background
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def arrive_and_leave(connect: ClientFactory, showtime: int) -> list[dict[str, object]]:
    clients = [await connect() for _ in range(ARRIVING)]
    acks = [await client.subscribe(showtime) for client in clients]
    for client in clients:
        await client.close()
    return acks


async def test_buyers_of_an_open_showtime_cost_no_queue_step(
        connect: ClientFactory, server: TestServer, showtime: int, redis_url: str,
        http: aiohttp.ClientSession, base_url: str, admin_token: str) -> None:
    admitter = server.app[ADMITTER]
    await eventually(lambda: not admitter.may_gate(showtime))  # its first refresh is done
    watcher = await connect()
    await watcher.subscribe(showtime)  # the room is live: subscribers read it here
    async with Redis.from_url(redis_url) as redis:
        async with QueueSteps(redis, showtime) as steps:
            acks = await arrive_and_leave(connect, showtime)
        assert [a.get("queue") for a in acks] == [None] * ARRIVING  # open
        assert steps.seen == 0

        # A waiting room turned on here: gated at once, every arrival queues.
        await set_sale(http, base_url, admin_token, showtime, waiting_room=True,
                       admission_rate=60, active_cap=0, admission_ttl_s=600)
        assert admitter.may_gate(showtime)
        async with QueueSteps(redis, showtime) as steps:
            acks = await arrive_and_leave(connect, showtime)
        assert {a.get("queue") for a in acks} <= {"waiting", "admitted"}
        assert steps.seen >= 2 * ARRIVING  # a join and a leave each
        await set_sale(http, base_url, admin_token, showtime, method="DELETE")
