"""SeatClient: a protocol v1 client that keeps a live view of each showtime.

Used by the test suite, the benchmarks and the load generator, so it checks
what a careful client would: offsets only ever grow within an epoch (a
repeated or reordered update is recorded as a violation, and so is an update
of another epoch than the view's snapshot), and the view is rebuilt from every
snapshot. It resumes with the offset and the epoch it last applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from ssl import SSLContext
from typing import Any

import aiohttp
import msgpack
import orjson

from seatserver.changefeed.events import Position, parse_offset
from seatserver.loadgen.wire import BINARY, TEXT, WireSocket, open_socket
from seatserver.protocol.codecs import BY_PROTOCOL, JSON_PROTOCOL, Codec

ACK_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 30.0  # TCP (and TLS) connection and upgrade


class ProtocolViolation(AssertionError):
    """The server sent something protocol v1 does not allow."""


@dataclass
class SeatView:
    """One showtime as a client sees it: held and booked seats, its own holds.

    Own holds come from hold acks, which are written at once, while the
    update a hold causes goes through the room's event stream: updates of a
    seat from before our hold can still arrive after its ack (the previous
    holder's hold and release, read by the feed a moment late). Such an
    update is old news for ``mine``. The ack's ``offset`` (the hold's stream
    entry) tells them apart: until the view reaches it, the seat stays ours
    whatever older updates say (``unechoed``).
    """

    offset: str = "0-0"
    position: Position = (0, 0)
    epoch: str = ""  # the stream epoch of ``offset``: offsets compare only within one
    held: set[str] = field(default_factory=set)
    booked: set[str] = field(default_factory=set)
    # Seats blocked off online sale (house seats, press, broken).
    blocked: set[str] = field(default_factory=set)
    mine: dict[str, int] = field(default_factory=dict)
    # Own holds acked at a position the view has not reached yet.
    unechoed: dict[str, Position] = field(default_factory=dict)
    snapshots: int = 0
    updates: int = 0
    summary: dict[str, Any] | None = None
    # The waiting room: the latest ``queue`` frame, and the admission's end.
    queue: dict[str, Any] | None = None
    admitted_until: int | None = None

    def note(self, frame: dict[str, Any]) -> None:
        """A frame about the showtime rather than its seats: a kiosk's
        summary, the waiting room's position or admission."""
        kind = frame["t"]
        if kind == "summary":
            self.summary = frame
        elif kind == "queue":
            self.queue = frame
        elif kind == "admission_lapsed":
            self.admitted_until = None
        else:
            self.admitted_until = frame["expires_at"]

    def apply_snapshot(self, frame: dict[str, Any]) -> None:
        self.held = set(frame["held"])
        self.booked = set(frame["booked"])
        self.blocked = set(frame.get("blocked", ()))
        epoch = str(frame.get("epoch", ""))
        if epoch != self.epoch:
            self.position = (0, 0)  # positions of another epoch say nothing here
            self.unechoed = {}
        self.epoch = epoch
        self._move(frame["offset"], strict=False)
        # A snapshot older than a hold we were granted cannot know of it.
        later = {s: at for s, at in self.unechoed.items() if at > self.position}
        self.mine = {**{s: self.mine[s] for s in later if s in self.mine}, **frame["mine"]}
        self.unechoed = later
        self.snapshots += 1

    def apply_update(self, frame: dict[str, Any]) -> None:
        epoch = frame.get("epoch")
        if epoch is not None and epoch != self.epoch:
            if self.epoch:
                raise ProtocolViolation(f"update at {frame['offset']} of epoch {epoch!r} "
                                        f"on a view of epoch {self.epoch!r}")
            self.epoch = str(epoch)  # resumed without naming one: learn it
        self._move(frame["offset"], strict=True)
        unechoed, held, booked, mine = self.unechoed, self.held, self.booked, self.mine
        reasons, position = frame["reasons"], self.position
        for seat, state in frame["seats"].items():
            if state == "blocked":
                self.blocked.add(seat)
            else:
                self.blocked.discard(seat)
            if state == "held":
                booked.discard(seat)
                held.add(seat)
                if reasons.get(seat) == "hold":
                    continue
            else:
                held.discard(seat)
                if state == "booked":
                    booked.add(seat)
                else:
                    booked.discard(seat)
            if seat in unechoed and unechoed[seat] > position:
                continue  # from before our hold
            mine.pop(seat, None)
        if unechoed:
            self.unechoed = {s: at for s, at in unechoed.items() if at > self.position}
        self.updates += 1

    def granted(self, seats: list[str], expires_at: int, offset: str | None,
                epoch: str | None = None) -> None:
        """A hold ack: the seats are ours from the stream entry at ``offset``
        (None from a server that does not say) until an update says otherwise.
        An offset of another epoch than the view's cannot be placed: the next
        snapshot (of that epoch) will say."""
        same_epoch = epoch is None or epoch == self.epoch
        at = parse_offset(offset) if offset and same_epoch else None
        for seat in seats:
            if at is not None and at <= self.position:
                if seat not in self.held:
                    continue  # the view has already seen the hold end
            elif at is not None:
                self.unechoed[seat] = at
            self.mine[seat] = expires_at

    def released(self, seats: list[str]) -> None:
        for seat in seats:
            self.mine.pop(seat, None)
            self.unechoed.pop(seat, None)

    def _move(self, offset: str, *, strict: bool) -> None:
        position = parse_offset(offset)
        if position is None:
            raise ProtocolViolation(f"bad offset {offset!r}")
        if strict and position <= self.position:
            raise ProtocolViolation(f"update at {offset} after {self.offset}: repeated or late")
        self.offset, self.position = offset, position


Reply = dict[str, Any]
OnReply = Callable[[Reply], None]


_decode_msgpack = functools.partial(msgpack.unpackb, raw=False, strict_map_key=True)


class SeatClient:
    """``delay_sink``, when given, receives each update's delivery delay (ms,
    server stamp to receipt) instead of ``update_delays_ms``, which grows
    without bound and suits only short tests.

    The socket is a ``WireSocket`` (``loadgen.wire``): frames are handled as
    their bytes arrive, with no reader task, so that one process can play
    thousands of buyers. ``session`` serves only HTTP (``new_session``); the
    WebSocket does not go through it (no cookies: the bearer token identifies
    the client). ``ssl`` is for wss:// (False: do not check the certificate).
    """

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str, *,
                 protocol: str = JSON_PROTOCOL, origin: str | None = None,
                 delay_sink: Callable[[float], None] | None = None,
                 headers: Mapping[str, str] | None = None,
                 ssl: SSLContext | bool | None = None,
                 connect_timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        self._session = session
        self._url = base_url.rstrip("/").replace("http", "ws", 1) + "/ws"
        self._token = token
        self._codec = BY_PROTOCOL[protocol]
        self._decode: Callable[[bytes], Any] = (
            _decode_msgpack if self._codec.binary else orjson.loads)
        self._opcode = BINARY if self._codec.binary else TEXT
        self._ssl = ssl
        self._connect_timeout = connect_timeout_s
        self._origin = origin
        # Extra headers of the upgrade request (a proxy's X-Forwarded-For).
        self._headers = dict(headers or {})
        self._refs = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        # Effects of replies, applied by the reader even when the caller
        # stopped waiting (cancelled, timed out): a hold granted after its
        # caller gave up is still the client's hold.
        self._effects: dict[str, OnReply] = {}
        self._answered = asyncio.Event()  # set while no effect is outstanding
        self._answered.set()
        self._delay_sink = delay_sink
        # Called with every ``queue`` and ``admitted`` frame (the waiting room).
        self.notice_sink: Callable[[dict[str, Any]], None] | None = None
        self.lost_replies = 0
        self.last_frame = 0.0  # time.monotonic() of the last frame received
        # Why the socket ended, when it failed rather than closed: "ERROR <why>".
        self.ended_by = ""
        self.ws: WireSocket | None = None
        self.views: dict[int, SeatView] = {}
        self.frames: list[dict[str, Any]] = []
        self.keep_frames = False
        self.violations: list[str] = []
        self.errors: list[dict[str, Any]] = []
        self.update_delays_ms: list[float] = []
        # Showtimes where a hold or release was answered `unavailable`: Redis may
        # have carried it out just before it went away, so which seats are ours
        # is unknown until a snapshot says (``settle``).
        self.unsure: set[int] = set()

    @property
    def codec(self) -> Codec:
        """The encoding the client speaks (its subprotocol)."""
        return self._codec

    @property
    def token(self) -> str:
        """The session token the client connects with (its bearer token)."""
        return self._token

    async def connect(self) -> SeatClient:
        """Open (or, after a close, reopen) the socket. A refused upgrade raises
        ``aiohttp.WSServerHandshakeError`` (with its ``status``), a connection
        that fails ``OSError``, one that hangs ``TimeoutError``."""
        headers = {**self._headers, "Authorization": f"Bearer {self._token}"}
        if self._origin:
            headers["Origin"] = self._origin
        self.ws = await open_socket(
            self._url, self._on_message, on_close=self._on_close,
            protocol=self._codec.name, headers=headers, ssl=self._ssl,
            within=self._connect_timeout)
        return self

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.aclose()

    async def __aenter__(self) -> SeatClient:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def wait_closed(self) -> None:
        """Return once the connection has closed (or was never opened)."""
        if self.ws is not None:
            await self.ws.wait_closed()

    @property
    def closed(self) -> bool:
        """Closed, or failed: a socket that ended delivers nothing more."""
        return self.ws is None or self.ws.closed

    async def send_raw(self, data: str | bytes) -> None:
        """One frame as is: bytes as a binary frame, str as a text frame."""
        self._send(data if isinstance(data, bytes) else data.encode(),
                   BINARY if isinstance(data, bytes) else TEXT)

    def _send(self, payload: bytes, opcode: int) -> None:
        if self.ws is None or not self.ws.send(payload, opcode):
            raise ConnectionResetError("the connection is closed")

    async def request(self, op: str, within: float = ACK_TIMEOUT_S, *,
                      on_reply: OnReply | None = None, **fields: Any) -> dict[str, Any]:
        """Send one command; return its ack (or pong), whatever it says.

        ``on_reply`` runs when the reply arrives, whether or not anyone still
        waits for it; it does not run when the connection closes first.
        """
        assert self.ws is not None
        ref = str(next(self._refs))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[ref] = future
        if on_reply is not None:
            self._effects[ref] = on_reply
            self._answered.clear()
        payload = self._codec.encode({"op": op, "ref": ref, **fields})
        try:
            try:
                self._send(payload, self._opcode)
            except ConnectionError:
                # A closed socket refuses the write: nothing went out, nothing
                # is to come. (While it is open, its end counts the effect as
                # a lost reply.)
                self._forget(ref)
                raise
            return await asyncio.wait_for(future, within)
        finally:
            self._waiting.pop(ref, None)

    def _forget(self, ref: str) -> OnReply | None:
        """Take a reply's effect off the outstanding ones."""
        effect = self._effects.pop(ref, None)
        if not self._effects:
            self._answered.set()
        return effect

    async def subscribe(self, showtime: int, since: str | None = None,
                        view: str = "seats", epoch: str | None = None) -> dict[str, Any]:
        """Join a room; with ``since`` (and the ``epoch`` of that offset) resume
        from it, which the server grants only within the stream's epoch."""
        self.views.setdefault(showtime, SeatView())
        fields: dict[str, Any] = {"showtime": showtime, "view": view}
        if since is not None:
            fields["since"] = since
        if epoch is not None:
            fields["epoch"] = epoch
        return await self.request("subscribe", **fields)

    async def hold(self, showtime: int, seats: list[str],
                   on_reply: OnReply | None = None) -> dict[str, Any]:
        def granted(ack: Reply) -> None:
            if ack.get("code") == "unavailable":
                self.unsure.add(showtime)
            if ack.get("ok") and showtime in self.views:
                self.views[showtime].granted(seats, ack["expires_at"], ack.get("offset"),
                                             ack.get("epoch"))
            if on_reply is not None:
                on_reply(ack)
        return await self.request("hold", showtime=showtime, seats=seats, on_reply=granted)

    async def best(self, showtime: int, count: int,
                   on_reply: OnReply | None = None) -> dict[str, Any]:
        """Best available: the server picks ``count`` seats and holds them; the
        ack names them (``seats``)."""
        def granted(ack: Reply) -> None:
            if ack.get("code") == "unavailable":
                self.unsure.add(showtime)
            if ack.get("ok") and showtime in self.views:
                self.views[showtime].granted(list(ack["seats"]), ack["expires_at"],
                                             ack.get("offset"), ack.get("epoch"))
            if on_reply is not None:
                on_reply(ack)
        return await self.request("hold", showtime=showtime, best={"count": count},
                                  on_reply=granted)

    async def release(self, showtime: int, seats: list[str],
                      on_reply: OnReply | None = None) -> dict[str, Any]:
        def released(ack: Reply) -> None:
            if ack.get("code") == "unavailable":
                self.unsure.add(showtime)
            if ack.get("ok") and showtime in self.views:
                self.views[showtime].released(seats)
            if on_reply is not None:
                on_reply(ack)
        return await self.request("release", showtime=showtime, seats=seats,
                                  on_reply=released)

    async def settle(self, showtime: int, wait_s: float = 0.0) -> None:
        """Learn which seats of ``showtime`` are ours from a fresh snapshot, if a
        hold or release there had an unknown outcome: answered `unavailable`, or
        still unanswered after ``wait_s`` (its caller gave up waiting: timed out,
        or cancelled when a run stopped). It stays unsure while the seat service
        is still unavailable."""
        if self._effects and wait_s > 0:
            # The reader sets it when the last reply comes or the socket closes.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._answered.wait(), wait_s)
        if self._effects:
            self.unsure.add(showtime)
        if showtime not in self.unsure:
            return
        await self.request("unsubscribe", showtime=showtime)
        if (await self.subscribe(showtime)).get("ok"):
            self.unsure.discard(showtime)

    def _on_message(self, sock: WireSocket, payload: bytes, arrived: float) -> None:
        try:
            self._on_frame(self._decode(payload), arrived)
        except ProtocolViolation as exc:
            self.violations.append(str(exc))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            # A frame of a shape v1 does not allow: the socket goes on, or
            # the view would silently freeze while the socket lives.
            self.violations.append(f"unreadable frame: {exc!r}")

    def _on_close(self, sock: WireSocket) -> None:
        if sock is not self.ws:
            return  # an older socket of this client
        if sock.failure:
            self.ended_by = f"ERROR {sock.failure}"
        # Nobody will answer what is still waiting: say so now, not at the timeout.
        # Holds and releases whose outcome this client will never learn:
        # after a reconnect only a snapshot's `mine` tells what it holds.
        self.lost_replies += len(self._effects)
        self._effects.clear()
        self._answered.set()
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("connection closed"))

    def _on_notice(self, frame: dict[str, Any]) -> None:
        """The waiting room: not about the seats, and sent before any
        subscription (``queue``), so no view is made for it."""
        view = self.views.get(frame["showtime"])
        if view is not None:
            view.note(frame)
        if self.notice_sink is not None:
            self.notice_sink(frame)

    def _view(self, showtime: int) -> SeatView:
        view = self.views.get(showtime)
        if view is None:  # not setdefault, which built a SeatView for every frame
            view = self.views[showtime] = SeatView()
        return view

    def _on_frame(self, frame: dict[str, Any], arrived: float) -> None:
        self.last_frame = time.monotonic()
        if self.keep_frames:
            self.frames.append(frame)
        kind = frame.get("t")
        if kind in ("ack", "pong", "error"):
            if kind == "error":
                self.errors.append(frame)
            ref = str(frame.get("ref"))
            effect = self._forget(ref)
            if effect is not None:
                effect(frame)
            future = self._waiting.get(ref)
            if future is not None and not future.done():
                future.set_result(frame)
            return
        if kind in ("queue", "admitted", "admission_lapsed"):
            self._on_notice(frame)
            return
        view = self._view(frame["showtime"])
        if kind == "snapshot":
            view.apply_snapshot(frame)
        elif kind == "update":
            view.apply_update(frame)
            if "ts" in frame:
                delay = arrived * 1000 - frame["ts"]
                if self._delay_sink is not None:
                    self._delay_sink(delay)
                else:
                    self.update_delays_ms.append(delay)
        elif kind == "summary":
            view.note(frame)
        else:
            raise ProtocolViolation(f"unknown frame {kind!r}")


async def new_session(session: aiohttp.ClientSession, base_url: str) -> str:
    """A guest session's token, as a non-browser client gets one."""
    async with session.post(base_url.rstrip("/") + "/api/sessions") as resp:
        resp.raise_for_status()
        body: dict[str, Any] = await resp.json()
        return str(body["token"])


async def guest_session(session: aiohttp.ClientSession, base_url: str) -> tuple[str, int]:
    """A guest session's token and user id (the holder id of its holds)."""
    async with session.post(base_url.rstrip("/") + "/api/sessions") as resp:
        resp.raise_for_status()
        body: dict[str, Any] = await resp.json()
        return str(body["token"]), int(body["user_id"])
