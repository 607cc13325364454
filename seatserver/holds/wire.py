"""ScriptConnection: one pipelined connection to Redis for the hold scripts.

redis-py spends ~200 µs of Python per pipelined batch here (connection
checkout, command stack, a task and a stream read per batch, its metrics
recorder), which at 1,000 holds/s was most of the server's time. This
connection keeps one socket open, writes each batch of pre-packed EVALSHA
commands with one ``transport.write`` and resolves the callers' futures in
order from ``data_received`` through hiredis: no task, no await per batch.

Redis answers the commands of one connection in order, so the futures wait in
a FIFO. A lost connection fails every waiting call with ``ConnectionError``
(the engine answers ``unavailable``) and the next call reconnects; a Redis
that stops answering is cut off after ``timeout`` seconds the same way.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import (
    AbstractConnection,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

Arg = str | int | bytes


def pack(args: Sequence[Arg]) -> bytes:
    """One command in RESP: ``*n`` then each argument as a bulk string."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif isinstance(arg, int):
            arg = b"%d" % arg
        parts.append(b"$%d\r\n%b\r\n" % (len(arg), arg))
    return b"".join(parts)


class _Protocol(asyncio.Protocol):
    def __init__(self, owner: ScriptConnection) -> None:
        self._owner = owner
        self._reader = hiredis.Reader(protocolError=InvalidResponse, replyError=ResponseError)

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        owner = self._owner
        while (reply := self._reader.gets()) is not False:
            owner.answer(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner.lost(self, exc)


class ScriptConnection:
    """Pipelined commands over one connection made from redis-py connection settings.

    ``kind`` and ``params`` are a redis-py connection class and its keyword
    arguments (a pool's, or a cluster node's); supported is what those
    connections do: TCP, Unix sockets and TLS, a username and password, and
    a database number.
    """

    def __init__(self, kind: type[AbstractConnection], params: Mapping[str, Any], *,
                 timeout: float = 5.0, connect_timeout: float = 2.0) -> None:
        self._kind = kind
        self._params = params
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._transport: asyncio.Transport | None = None
        self._protocol: _Protocol | None = None
        # (sent at, future) of each command sent and not answered yet, in order.
        self._waiting: deque[tuple[float, asyncio.Future[Any]]] = deque()
        self._watchdog: asyncio.TimerHandle | None = None

    @classmethod
    def of(cls, redis: Redis, *, timeout: float = 5.0) -> ScriptConnection:
        """A connection like those of ``redis``' pool."""
        pool = redis.connection_pool
        return cls(pool.connection_class, pool.connection_kwargs, timeout=timeout)

    @property
    def connected(self) -> bool:
        return self._transport is not None

    async def connect(self) -> None:
        """Open the connection (its owner makes sure only one attempt runs at a time)."""
        if self._transport is not None:
            return
        try:
            await asyncio.wait_for(self._open(), self._connect_timeout)
        except (TimeoutError, OSError) as exc:
            self.close()
            raise RedisConnectionError(f"cannot connect to Redis: {exc!r}") from exc

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        params = self._params
        protocol = _Protocol(self)
        if issubclass(self._kind, UnixDomainSocketConnection):
            transport, _ = await loop.create_unix_connection(lambda: protocol, params["path"])
        else:
            tls = _tls_context(params) if issubclass(self._kind, SSLConnection) else None
            transport, _ = await loop.create_connection(
                lambda: protocol, params.get("host", "localhost"), params.get("port", 6379),
                ssl=tls)
        self._transport, self._protocol = transport, protocol
        handshake = []
        if params.get("password"):
            user = params.get("username")
            handshake.append(["AUTH", *([user] if user else []), params["password"]])
        if params.get("db"):
            handshake.append(["SELECT", params["db"]])
        futures = [loop.create_future() for _ in handshake]
        self.send([pack(c) for c in handshake], futures)
        for reply in await asyncio.gather(*futures):
            if isinstance(reply, ResponseError):
                self.close()
                raise RedisConnectionError(f"Redis refused the connection set-up: {reply}")

    def send(self, commands: Sequence[bytes], futures: Sequence[asyncio.Future[Any]]) -> None:
        """Write packed commands in one go; each reply resolves its future, in order.

        A reply that is a Redis error (a script's error, NOSCRIPT) resolves
        its future to a ``ResponseError`` value rather than raising, so one
        bad command does not fail its neighbours.
        """
        if self._transport is None:
            raise RedisConnectionError("not connected to Redis")
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._waiting.extend((now, f) for f in futures)
        self._transport.write(b"".join(commands))
        if self._watchdog is None:
            self._watchdog = loop.call_at(now + self._timeout, self._check_timeout)

    def answer(self, reply: Any) -> None:
        if not self._waiting:
            self._drop(RedisConnectionError(f"Redis sent a reply nobody asked for: {reply!r}"))
            return
        _, future = self._waiting.popleft()
        if not future.done():  # its caller may have given up (cancelled)
            future.set_result(reply)

    def lost(self, protocol: _Protocol, exc: Exception | None) -> None:
        if protocol is not self._protocol:
            return  # an old connection's late goodbye
        self._drop(RedisConnectionError(f"lost the connection to Redis: {exc!r}"))

    def close(self) -> None:
        self._drop(RedisConnectionError("connection to Redis closed"))

    def _drop(self, error: Exception) -> None:
        transport, self._transport, self._protocol = self._transport, None, None
        if transport is not None:
            transport.abort()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        waiting, self._waiting = self._waiting, deque()
        for _, future in waiting:
            if not future.done():
                future.set_exception(error)
                future.exception()  # the caller may be gone; nobody else will look

    def _check_timeout(self) -> None:
        self._watchdog = None
        if not self._waiting:
            return
        loop = asyncio.get_running_loop()
        late = loop.time() - self._waiting[0][0]
        if late >= self._timeout:
            self._drop(RedisTimeoutError(f"Redis did not answer within {self._timeout:g}s"))
            return
        self._watchdog = loop.call_at(loop.time() + self._timeout - late, self._check_timeout)


def _tls_context(params: Mapping[str, Any]) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=params.get("ssl_ca_certs"))
    if params.get("ssl_certfile"):
        context.load_cert_chain(params["ssl_certfile"], params.get("ssl_keyfile"))
    if params.get("ssl_cert_reqs") in ("none", ssl.CERT_NONE):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
