"""SeatClient: a protocol v1 client that keeps a live view of each showtime.

Used by the test suite, the benchmarks and the load generator, so it checks
what a careful client would: offsets only ever grow (a repeated or reordered
update is recorded as a violation), and the view is rebuilt from every
snapshot.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from seatserver.changefeed.events import Position, parse_offset
from seatserver.protocol.codecs import BY_PROTOCOL, JSON_PROTOCOL

ACK_TIMEOUT_S = 10.0


class ProtocolViolation(AssertionError):
    """The server sent something protocol v1 does not allow."""


@dataclass
class SeatView:
    """One showtime as a client sees it: held and booked seats, its own holds."""

    offset: str = "0-0"
    position: Position = (0, 0)
    held: set[str] = field(default_factory=set)
    booked: set[str] = field(default_factory=set)
    mine: dict[str, int] = field(default_factory=dict)
    snapshots: int = 0
    updates: int = 0
    summary: dict[str, Any] | None = None

    def apply_snapshot(self, frame: dict[str, Any]) -> None:
        self.held = set(frame["held"])
        self.booked = set(frame["booked"])
        self.mine = dict(frame["mine"])
        self._move(frame["offset"], strict=False)
        self.snapshots += 1

    def apply_update(self, frame: dict[str, Any]) -> None:
        self._move(frame["offset"], strict=True)
        for seat, state in frame["seats"].items():
            self.held.discard(seat)
            self.booked.discard(seat)
            if state == "held":
                self.held.add(seat)
            elif state == "booked":
                self.booked.add(seat)
            if state != "held" or frame["reasons"].get(seat) != "hold":
                self.mine.pop(seat, None)
        self.updates += 1

    def _move(self, offset: str, *, strict: bool) -> None:
        position = parse_offset(offset)
        if position is None:
            raise ProtocolViolation(f"bad offset {offset!r}")
        if strict and position <= self.position:
            raise ProtocolViolation(f"update at {offset} after {self.offset}: repeated or late")
        self.offset, self.position = offset, position


class SeatClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str, *,
                 protocol: str = JSON_PROTOCOL, origin: str | None = None) -> None:
        self._session = session
        self._url = base_url.rstrip("/").replace("http", "ws", 1) + "/ws"
        self._token = token
        self._codec = BY_PROTOCOL[protocol]
        self._origin = origin
        self._refs = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.views: dict[int, SeatView] = {}
        self.frames: list[dict[str, Any]] = []
        self.keep_frames = False
        self.violations: list[str] = []
        self.errors: list[dict[str, Any]] = []
        self.update_delays_ms: list[float] = []

    async def connect(self) -> SeatClient:
        headers = {"Authorization": f"Bearer {self._token}"}
        if self._origin:
            headers["Origin"] = self._origin
        self.ws = await self._session.ws_connect(
            self._url, protocols=[self._codec.name], headers=headers, autoping=True,
            max_msg_size=0, compress=0)
        self._reader = asyncio.create_task(self._read())
        return self

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    async def __aenter__(self) -> SeatClient:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self.ws is None or self.ws.closed

    async def send_raw(self, data: str | bytes) -> None:
        assert self.ws is not None
        if isinstance(data, bytes):
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(data)

    async def request(self, op: str, within: float = ACK_TIMEOUT_S, **fields: Any
                      ) -> dict[str, Any]:
        """Send one command; return its ack (or pong), whatever it says."""
        assert self.ws is not None
        ref = str(next(self._refs))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[ref] = future
        payload = self._codec.encode({"op": op, "ref": ref, **fields})
        try:
            if self._codec.binary:
                await self.ws.send_bytes(payload)
            else:
                await self.ws.send_str(payload.decode())
            return await asyncio.wait_for(future, within)
        finally:
            self._waiting.pop(ref, None)

    async def subscribe(self, showtime: int, since: str | None = None,
                        view: str = "seats") -> dict[str, Any]:
        self.views.setdefault(showtime, SeatView())
        fields: dict[str, Any] = {"showtime": showtime, "view": view}
        if since is not None:
            fields["since"] = since
        return await self.request("subscribe", **fields)

    async def hold(self, showtime: int, seats: list[str]) -> dict[str, Any]:
        ack = await self.request("hold", showtime=showtime, seats=seats)
        if ack.get("ok") and showtime in self.views:
            for seat in seats:
                self.views[showtime].mine[seat] = ack["expires_at"]
        return ack

    async def release(self, showtime: int, seats: list[str]) -> dict[str, Any]:
        ack = await self.request("release", showtime=showtime, seats=seats)
        if ack.get("ok") and showtime in self.views:
            for seat in seats:
                self.views[showtime].mine.pop(seat, None)
        return ack

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for msg in self.ws:
                if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    break
                frame = self._codec.decode(msg.data)
                try:
                    self._on_frame(frame)
                except ProtocolViolation as exc:
                    self.violations.append(str(exc))
        finally:
            # Nobody will answer what is still waiting: say so now, not at the timeout.
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection closed"))

    def _on_frame(self, frame: dict[str, Any]) -> None:
        if self.keep_frames:
            self.frames.append(frame)
        kind = frame.get("t")
        if kind in ("ack", "pong"):
            future = self._waiting.get(str(frame.get("ref")))
            if future is not None and not future.done():
                future.set_result(frame)
            return
        if kind == "error":
            self.errors.append(frame)
            future = self._waiting.get(str(frame.get("ref")))
            if future is not None and not future.done():
                future.set_result(frame)
            return
        view = self.views.setdefault(frame["showtime"], SeatView())
        if kind == "snapshot":
            view.apply_snapshot(frame)
        elif kind == "update":
            view.apply_update(frame)
            if "ts" in frame:
                self.update_delays_ms.append(time.time() * 1000 - frame["ts"])
        elif kind == "summary":
            view.summary = frame
        else:
            raise ProtocolViolation(f"unknown frame {kind!r}")


async def new_session(session: aiohttp.ClientSession, base_url: str) -> str:
    """A guest session's token, as a non-browser client gets one."""
    async with session.post(base_url.rstrip("/") + "/api/sessions") as resp:
        resp.raise_for_status()
        body: dict[str, Any] = await resp.json()
        return str(body["token"])
