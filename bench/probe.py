"""Probe: one protocol v1 socket in the benchmark's own process.

For the few sockets a benchmark drives itself (the update that triggers a
fan-out, a fresh snapshot to compare views with, the expiry watcher), where
the load agents' batch commands do not fit. Built on the same lean client.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import orjson

from seatserver.loadgen.wire import WireSocket as WsClient
from seatserver.loadgen.wire import connect

OnFrame = Callable[[dict[str, Any], float], None]


class Probe:
    def __init__(self, port: int, token: str, on_frame: OnFrame | None = None) -> None:
        self._port = port
        self._token = token
        self._on_frame = on_frame
        self._refs = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._snapshots: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._client: WsClient | None = None

    async def connect(self) -> Probe:
        self._client = await connect("127.0.0.1", self._port, self._received, token=self._token)
        return self

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    async def request(self, op: str, **fields: Any) -> dict[str, Any]:
        assert self._client is not None
        ref = str(next(self._refs))
        future = asyncio.get_running_loop().create_future()
        self._waiting[ref] = future
        self._client.send(orjson.dumps({"op": op, "ref": ref, **fields}))
        try:
            return await asyncio.wait_for(future, 30)
        finally:
            self._waiting.pop(ref, None)

    async def snapshot(self, showtime: int) -> dict[str, Any]:
        """Subscribe (again) and return the snapshot frame the server sends."""
        future = asyncio.get_running_loop().create_future()
        self._snapshots[showtime] = future
        ack = await self.request("subscribe", showtime=showtime)
        if not ack.get("ok"):
            raise RuntimeError(f"subscribe refused: {ack}")
        return await asyncio.wait_for(future, 30)

    def _received(self, client: WsClient, payload: bytes, arrived: float) -> None:
        frame = orjson.loads(payload)
        kind = frame.get("t")
        if kind in ("ack", "pong", "error"):
            future = self._waiting.get(str(frame.get("ref")))
            if future is not None and not future.done():
                future.set_result(frame)
            return
        if kind == "snapshot":
            waiter = self._snapshots.pop(frame["showtime"], None)
            if waiter is not None and not waiter.done():
                waiter.set_result(frame)
        if self._on_frame is not None:
            self._on_frame(frame, arrived)
