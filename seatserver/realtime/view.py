"""The /ws endpoint: identity and origin at the upgrade, then the socket's sole reader.

A session may keep ``max_sockets_per_session`` sockets open on this process
(a browser tab each); one more is told ``rate_limited`` in an ``error`` frame
and closed with 1008. The count is per process: it bounds what one session
can make a process keep (memory, fan-out time per update), which is the
resource at stake, without a shared count a crashed instance would leave
wrong.
"""

from __future__ import annotations

import logging
import socket

from aiohttp import WSMsgType, web

from seatserver.accounts.csrf import origin_allowed
from seatserver.accounts.proxies import TrustedProxies
from seatserver.accounts.rbac import caller_of, identity_of
from seatserver.errors import BadMessage, Forbidden, RateLimited
from seatserver.http.openapi import describe
from seatserver.http.roles import SIGNED_IN, Role, allow
from seatserver.protocol import messages as m
from seatserver.protocol.codecs import BY_PROTOCOL, CODECS, JSON
from seatserver.realtime.commands import Commands
from seatserver.realtime.connection import CLOSE_POLICY, Connection, Stats
from seatserver.realtime.rooms import RoomRegistry
from seatserver.realtime.waiters import WaiterRegistry
from seatserver.settings import Settings

log = logging.getLogger(__name__)


class SocketView:
    def __init__(self, commands: Commands, rooms: RoomRegistry, settings: Settings,
                 proxies: TrustedProxies, waiters: WaiterRegistry) -> None:
        self._commands = commands
        self._rooms = rooms
        self._waiters = waiters
        self._settings = settings
        self._proxies = proxies
        self.connections: set[Connection] = set()
        # Open sockets per session token on this process (the socket cap).
        self._per_session: dict[str, int] = {}
        # Open sockets per holder on this process: when the last one closes,
        # the waiting room hears the buyer has gone (WaiterRegistry.gone).
        self._per_holder: dict[str, int] = {}
        self.stats = Stats()

    # Any session: the role gate resolves it (401 without one) before the upgrade.
    @allow(*SIGNED_IN)
    @describe("The WebSocket upgrade (protocol: docs/protocol.md).", status=101, errors=[400],
              content="application/octet-stream")
    async def handle(self, request: web.Request) -> web.StreamResponse:
        identity = identity_of(request)
        self._check_origin(request)
        ws = web.WebSocketResponse(
            protocols=[c.name for c in CODECS],
            compress=False,  # ~14x the memory and ~1.8x the CPU per message
            max_msg_size=self._settings.max_frame_bytes,
            heartbeat=self._settings.heartbeat_s,
        )
        await ws.prepare(request)
        assert request.transport is not None
        if self._settings.socket_send_buffer:
            sock = request.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF,
                                self._settings.socket_send_buffer)
        codec = BY_PROTOCOL.get(ws.ws_protocol or "", JSON)
        conn = Connection(
            ws, request.transport, codec, str(identity.user_id), self.stats,
            read_only=identity.kind == Role.KIOSK.value,
            address=self._proxies.client_subject(request),
            buffer_limit=self._settings.send_buffer_limit,
            rate_per_s=self._settings.rate_per_s,
            rate_burst=self._settings.rate_burst,
        )
        caller = caller_of(request)
        session = caller.token if caller is not None else ""
        cap = self._settings.max_sockets_per_session
        if self._per_session.get(session, 0) >= cap:
            self.stats.too_many_sockets += 1
            conn.send(m.error(None, RateLimited(
                f"at most {cap} connections per session: close another tab or window")))
            conn.close(CLOSE_POLICY, "too many connections for this session")
            await conn.finish()
            return ws
        self._per_session[session] = self._per_session.get(session, 0) + 1
        self._per_holder[conn.holder] = self._per_holder.get(conn.holder, 0) + 1
        self.connections.add(conn)
        try:
            await self._read(conn, ws)
            await conn.finish()
        finally:
            self.connections.discard(conn)
            showtimes = conn.showtimes | self._waiters.showtimes_of(conn)
            self._rooms.drop(conn)
            self._waiters.drop(conn)
            _count_down(self._per_session, session)
            if not _count_down(self._per_holder, conn.holder) and not conn.read_only:
                self._waiters.gone(conn.holder, showtimes)
        return ws

    async def _read(self, conn: Connection, ws: web.WebSocketResponse) -> None:
        async for msg in ws:
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            if conn.closed:
                break
            try:
                raw = conn.codec.decode(msg.data)
            except BadMessage as err:
                if conn.allow():
                    conn.send(m.error(None, err))
                continue
            if not conn.allow():
                self._commands.refuse_flood(conn, raw)
                continue
            await self._commands.handle(conn, raw)

    def _check_origin(self, request: web.Request) -> None:
        origin = request.headers.get("Origin")
        if origin is None:
            return  # not a browser; it proved who it is with its token
        if not origin_allowed(origin, request.host, self._settings.allowed_origins):
            raise Forbidden(f"origin {origin} is not allowed")


def _count_down(counts: dict[str, int], key: str) -> int:
    """One fewer for ``key`` (gone from ``counts`` at none); how many are left."""
    left = counts.get(key, 1) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)
    return left
