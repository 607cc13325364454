"""The /ws endpoint: identity and origin at the upgrade, then the socket's sole reader."""

from __future__ import annotations

import logging
import socket

from aiohttp import WSMsgType, web

from seatserver.accounts.csrf import origin_allowed
from seatserver.accounts.rbac import SIGNED_IN, Role, allow, identity_of
from seatserver.errors import BadMessage, Forbidden
from seatserver.openapi import describe
from seatserver.protocol import messages as m
from seatserver.protocol.codecs import BY_PROTOCOL, CODECS, JSON
from seatserver.realtime.commands import Commands
from seatserver.realtime.connection import Connection, Stats
from seatserver.realtime.rooms import RoomRegistry
from seatserver.settings import Settings

log = logging.getLogger(__name__)


class SocketView:
    def __init__(self, commands: Commands, rooms: RoomRegistry, settings: Settings) -> None:
        self._commands = commands
        self._rooms = rooms
        self._settings = settings
        self.connections: set[Connection] = set()
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
            buffer_limit=self._settings.send_buffer_limit,
            rate_per_s=self._settings.rate_per_s,
            rate_burst=self._settings.rate_burst,
        )
        self.connections.add(conn)
        try:
            await self._read(conn, ws)
            await conn.finish()
        finally:
            self.connections.discard(conn)
            self._rooms.drop(conn)
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
