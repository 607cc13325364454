"""Lifecycle: the services of a running app, started in order, stopped in reverse.

Every service is an async context manager: entering starts it, leaving stops
it. ``Lifecycle.running`` enters them on one ``AsyncExitStack``, which gives
the two guarantees a hand-ordered block of starts and stops did not:

- a start that fails leaves nothing running: the services already started
  are stopped (newest first) before the failure goes on up;
- every stop runs even when another one raises or hangs. A stop is given
  ``stop_within_s``; one that takes longer is logged and left behind, so
  shutdown always ends. A stop that raises is logged by name, and once all
  have run the failures are raised together as one ``ExceptionGroup`` (unless
  a failed start is already on its way up: that is the error that matters).

Each feature (``setup_holds``, ``setup_bookings``, ...) adds one cleanup
context to the app with ``add_feature``: when the app starts, it makes the
feature's parts from what the features before it made, adds its routes and
starts its services; when the app stops, aiohttp leaves the contexts newest
first and runs every one even when another raises. A start that fails stops
the feature's own services at once, and the features before it when the
runner cleans up (``seatserver.serving`` always does).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from types import TracebackType

from aiohttp import web

from seatserver.http.roles import check_declared

log = logging.getLogger(__name__)

# How long one service may take to stop before it is left behind.
SHUTDOWN_STEP_S = 5.0

Service = AbstractAsyncContextManager[object]
Step = Callable[[], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    service: Service
    stop_within_s: float | None


class Lifecycle:
    def __init__(self, *, stop_within_s: float = SHUTDOWN_STEP_S) -> None:
        self._stop_within = stop_within_s
        self._entries: list[_Entry] = []

    def add(self, name: str, service: Service, *, bounded: bool = True) -> None:
        """Start ``service`` after those added before it (and stop it before them).

        ``bounded=False`` for a service that bounds its own stop (and does
        something better than being left behind when it overruns)."""
        self._entries.append(_Entry(name, service, self._stop_within if bounded else None))

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        failed: list[Exception] = []
        async with AsyncExitStack() as stack:
            for entry in self._entries:
                await stack.enter_async_context(_Stopping(entry, failed))
            yield
        if failed:
            raise ExceptionGroup("services failed to stop", failed)


class _Stopping:
    """Enters a service; on the way out stops it within its bound, and keeps
    (rather than raises) what its stop raised, so the next stop still runs."""

    def __init__(self, entry: _Entry, failed: list[Exception]) -> None:
        self._entry = entry
        self._failed = failed

    async def __aenter__(self) -> None:
        await self._entry.service.__aenter__()

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> bool:
        entry = self._entry
        try:
            if entry.stop_within_s is None:
                await entry.service.__aexit__(kind, error, trace)
            else:
                await asyncio.wait_for(entry.service.__aexit__(kind, error, trace),
                                       entry.stop_within_s)
        except TimeoutError:
            log.error("shutdown: %s did not stop within %ss", entry.name, entry.stop_within_s)
        except Exception as exc:
            log.error("shutdown: %s failed to stop (%s: %s)", entry.name,
                      type(exc).__name__, exc)
            self._failed.append(exc)
        return False  # never swallows what is unwinding through it


@asynccontextmanager
async def started(start: Step | None = None, stop: Step | None = None
                  ) -> AsyncIterator[None]:
    """A service made of a start and a stop step, for parts that are not
    context managers themselves (a client to close, a registry to cancel)."""
    if start is not None:
        await start()
    try:
        yield
    finally:
        if stop is not None:
            await stop()


Wiring = Callable[[web.Application], Lifecycle]


def add_feature(app: web.Application, wire: Wiring) -> None:
    """Adds a feature to ``app`` as a cleanup context of its own.

    When the app starts, ``wire(app)`` makes the feature's parts (reading the
    AppKeys of the features added before it), adds its routes (the router is
    fixed only after start-up), and returns its services, which then run
    until the app stops. A route the feature added without declaring who may
    call it stops the start before any of the feature's services start."""

    async def feature(app: web.Application) -> AsyncIterator[None]:
        services = wire(app)
        check_declared(app)
        async with services.running():
            yield

    app.cleanup_ctx.append(feature)
