"""Script batchers: the script calls made in one event-loop iteration go out together.

On these machines the Python process, not Redis, is the limit, and most of a
call's cost used to be the client library's per-command work. Calls made in
one loop iteration are packed and written as one batch; at rest a call still
goes out alone on the next loop iteration, so batching adds no waiting, and
under load batches grow by themselves, like the fan-out.

``batcher_for`` picks the way: against a real Redis, a ``ScriptBatcher`` over
one pipelined socket of its own (wire.py); against a Redis Cluster, one of
those per master behind a router (cluster.py); a client without a socket
(fakeredis in tests) gets a ``PipelineBatcher``, the same batches as redis-py
pipelines.

Calls stay in order; a lost connection fails the calls waiting on it (the
next call reconnects); NOSCRIPT (a restarted or flushed Redis) loads the
script again and retries the call that hit it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any, Generic, Protocol, TypeVar

from redis.asyncio import Redis
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, ResponseError

from seatserver.holds.wire import ScriptConnection, pack

Item = TypeVar("Item")


class Batcher(Protocol):
    """Runs hold scripts, batching the calls of one event-loop iteration.

    ``call`` runs ``script`` (EVALSHA, loading it after NOSCRIPT and trying
    once more) with ``keys`` (every key the script touches, one hash slot)
    and ``args``, and returns Redis' reply. Calls made in one loop iteration
    go out together and run in the order they were made; nothing waits for a
    batch to fill. A reply that is a Redis error raises it; a lost or stalled
    connection fails every call waiting on it with redis-py's
    ``ConnectionError`` or ``TimeoutError`` (the engine answers
    ``unavailable``) and the next call reconnects. After ``close`` no call
    may be made.
    """

    async def call(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]
                   ) -> Any:
        """Run one script call in the next batch; its reply, or its error raised."""
        ...

    async def close(self) -> None:
        """Cancel the batches in flight and drop the connection."""
        ...


def batcher_for(redis: Redis, *, timeout: float) -> Batcher:
    # Exactly redis-py's own socket connections: fakeredis subclasses them.
    if redis.connection_pool.connection_class in (
            Connection, SSLConnection, UnixDomainSocketConnection):
        return ScriptBatcher(ScriptConnection.of(redis, timeout=timeout))
    return PipelineBatcher(redis)


def is_noscript(reply: object) -> bool:
    return isinstance(reply, NoScriptError) or (
        isinstance(reply, ResponseError) and str(reply).startswith("NOSCRIPT"))


class _Batches(Generic[Item]):
    """Queues items with their futures and hands each loop iteration's to ``_flush``."""

    def __init__(self) -> None:
        self._queue: list[tuple[Item, asyncio.Future[Any]]] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _enqueue(self, item: Item) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((item, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._run_flush)
        return future

    def _run_flush(self) -> None:
        self._scheduled = False
        if self._queue:
            self._flush()

    def _flush(self) -> None:
        raise NotImplementedError

    def _take(self) -> list[tuple[Item, asyncio.Future[Any]]]:
        batch, self._queue = self._queue, []
        return batch

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class ScriptBatcher(_Batches[bytes]):
    """EVALSHA calls pre-packed and written over one ``ScriptConnection``."""

    def __init__(self, conn: ScriptConnection) -> None:
        super().__init__()
        self._conn = conn
        self._connecting = False

    def submit(self, command: bytes) -> asyncio.Future[Any]:
        """Queue one packed command; its future gets the reply, a Redis error as a
        ``ResponseError`` value. Commands submitted with no await in between go
        out back to back on the connection (ASKING relies on that)."""
        return self._enqueue(command)

    async def call(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]
                   ) -> Any:
        command = pack(["EVALSHA", script.sha, len(keys), *keys, *args])
        reply = await self._enqueue(command)
        if is_noscript(reply):
            await self.load(script)
            reply = await self._enqueue(command)
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    async def load(self, script: AsyncScript) -> None:
        """SCRIPT LOAD over this connection (after NOSCRIPT: a restarted or flushed Redis)."""
        source = script.script
        loaded = await self._enqueue(pack([
            "SCRIPT", "LOAD", source.tobytes() if isinstance(source, memoryview) else source]))
        if isinstance(loaded, ResponseError):
            raise loaded

    async def close(self) -> None:
        await super().close()
        self._conn.close()

    def _flush(self) -> None:
        if self._conn.connected:
            batch = self._take()
            self._conn.send([command for command, _ in batch], [f for _, f in batch])
        elif not self._connecting:
            self._connecting = True
            self._spawn(self._connect())

    async def _connect(self) -> None:
        try:
            await self._conn.connect()
        except Exception as exc:
            _fail(self._take(), exc)
        finally:
            self._connecting = False
        if self._queue:
            self._flush()


Call = tuple[AsyncScript, Sequence[Any], Sequence[Any]]


class PipelineBatcher(_Batches[Call]):
    """The same batches as redis-py pipelines, for clients without a socket (fakeredis)."""

    def __init__(self, redis: Redis) -> None:
        super().__init__()
        self._redis = redis

    async def call(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]
                   ) -> Any:
        reply = await self._enqueue((script, keys, args))
        if is_noscript(reply):
            reply = await script(keys=keys, args=args)  # loads it again
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def _flush(self) -> None:
        self._spawn(self._pipeline(self._take()))

    async def _pipeline(self, batch: list[tuple[Call, asyncio.Future[Any]]]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for (script, keys, args), _ in batch:
                    pipe.evalsha(script.sha, len(keys), *keys, *args)
                results = await pipe.execute(raise_on_error=False)
        except Exception as exc:
            _fail(batch, exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


def _fail(batch: Sequence[tuple[object, asyncio.Future[Any]]], exc: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)
