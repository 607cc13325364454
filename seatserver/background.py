"""BackgroundTask: one long-running task with an owner that starts and stops it.

Every loop the server runs beside its requests (the change feed, the expiry
sweeper, the loop-lag monitor) is one of these, so each is started once, and
on stop cancelled and awaited: no task outlives its owner. A service whose
work is one such loop is a ``BackgroundService``: ``async with service:``
runs it for the length of the block.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Self

from seatserver.db import DB_DOWN
from seatserver.errors import Unavailable
from seatserver.redis_client import REDIS_DOWN

log = logging.getLogger(__name__)

# Redis or PostgreSQL away (raw, or as the engines report it): the step is
# tried again and the log says so in a line; tracebacks are kept for bugs.
OUTAGES = (*REDIS_DOWN, *DB_DOWN, Unavailable)

# A cancelled task's time to unwind (roll back, close) before it is
# cancelled again, and the pace of the cancellations after that.
UNWIND_S = 1.0
RECANCEL_S = 0.1


class BackgroundTask:
    def __init__(self, name: str, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._name = name
        self._run = run
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        # Cancelled again until it ends: on Python 3.11 asyncio.wait_for (which
        # redis-py uses to send) drops a cancellation that arrives just as its
        # inner step finishes, and the task would go on into its next blocking
        # read (seen with the cluster feed's readers, one stop in five). But
        # not at once: a task that took the first one may be rolling back a
        # transaction, and a second cancellation cut that ROLLBACK short
        # (asyncpg then logs "Resetting connection with an active
        # transaction" as the connection goes back; seen on a loaded machine).
        task.cancel()
        await asyncio.wait({task}, timeout=UNWIND_S)
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=RECANCEL_S)
        await asyncio.gather(task, return_exceptions=True)

    @classmethod
    def every(cls, name: str, interval_s: float,
              step: Callable[[], Coroutine[Any, Any, object]]) -> BackgroundTask:
        """Run ``step`` every ``interval_s`` seconds; a failing step is logged
        and tried again next round (a service that is away comes back)."""
        async def run() -> None:
            while True:
                try:
                    await step()
                except OUTAGES as exc:
                    log.warning("%s failed, a service is away (%s: %s); trying again in %.0fs",
                                name, type(exc).__name__, exc, interval_s)
                except Exception:
                    log.exception("%s failed; trying again in %.0fs", name, interval_s)
                await asyncio.sleep(interval_s)

        return cls(name, run)


class BackgroundService:
    """A service whose work is one ``BackgroundTask``, run as an async context
    manager: entering runs ``prepare`` and then starts the task, leaving
    cancels and awaits it. A ``prepare`` that raises starts nothing."""

    def __init__(self, task: BackgroundTask) -> None:
        self._task = task

    @property
    def running(self) -> bool:
        return self._task.running

    async def prepare(self) -> None:
        """What must hold before the task runs (loaded keys, say); none by default."""

    async def __aenter__(self) -> Self:
        await self.prepare()
        self._task.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self._task.stop()
