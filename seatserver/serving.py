"""Run the app: in this process, or as N worker processes sharing one port.

One Python process tops out well below what Redis can do (see DESIGN.md,
"Where the time goes"), so ``serve --workers N`` runs N full instances that
all bind the port with SO_REUSEPORT and let the kernel spread connections.
The parent only supervises: it forwards SIGINT/SIGTERM, waits for the
workers, and returns so that the caller can stop the embedded servers last.
A worker that dies on its own takes the others down with it (exit code 1),
leaving restarts to whatever runs seatserver (systemd, Docker, a shell loop).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from aiohttp import web

from seatserver import loops
from seatserver.embedded import die_with_parent
from seatserver.ports import free_port
from seatserver.settings import WORKER_INDEX_ENV, Settings, worker_index

log = logging.getLogger(__name__)

# Set in a worker's environment by its parent: skip migrating, seeding and
# announcing, and bind the shared port with SO_REUSEPORT.
WORKER_ENV = "SEATSERVER_WORKER"
# Seconds open connections get to finish on shutdown before they are cut.
SHUTDOWN_TIMEOUT_S = 10.0
WORKER_STOP_TIMEOUT_S = 30.0
READY_TIMEOUT_S = 60.0

Announce = Callable[[int], None]


def is_worker() -> bool:
    return os.environ.get(WORKER_ENV) == "1"


def run_app(settings: Settings, *, reuse_port: bool, announce: Announce | None,
            stopping: Callable[[], None] | None = None) -> None:
    """Serve ``create_app(settings)`` until SIGINT or SIGTERM, then shut down
    cleanly; ``stopping`` is called when the first signal arrives."""
    loops.run(_serve(settings, reuse_port, announce, stopping))


# Connections the kernel queues before we accept them. aiohttp's default of
# 128 overflowed when a crowd connected at once (the fan-out benchmark's 3,000
# new subscribers, 256 at a time, got resets); Linux caps it at somaxconn.
LISTEN_BACKLOG = 2048


async def _serve(settings: Settings, reuse_port: bool, announce: Announce | None,
                 stopping: Callable[[], None] | None) -> None:
    # Imported here: app.py pulls in the whole server, which migrate and
    # seed never need.
    from seatserver.app import create_app

    runner = web.AppRunner(create_app(settings), handle_signals=False,
                           shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    signals = _Signals(stopping)
    metrics: web.AppRunner | None = None
    try:
        # Inside: a start that fails stops the features that had started.
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port, reuse_port=reuse_port or None,
                           backlog=LISTEN_BACKLOG)
        await site.start()
        port = _bound_port(runner, settings.port)
        if settings.metrics_port is not None:
            metrics = await _metrics_site(runner.app, settings.host, settings.metrics_port)
        loops.tune_collector()
        log.info("listening on %s:%d", settings.host, port)
        if announce is not None:
            announce(port)
        await signals.first()
        log.info("shutting down")
    finally:
        try:
            if metrics is not None:
                await metrics.cleanup()
            await runner.cleanup()
        finally:
            signals.remove()


async def _metrics_site(app: web.Application, host: str, first_port: int) -> web.AppRunner:
    """``/metrics`` alone, on this process's own port (``first_port`` plus its
    worker index): behind ``serve --workers N`` the shared port hands each
    scrape to whichever worker the kernel picks, so counters would jump
    between processes; a port per process gives each its own series (the
    scraper's ``instance`` label)."""
    from seatserver.appkeys import METRICS
    from seatserver.http.errors import error_middleware

    port = first_port + worker_index()
    alone = web.Application(middlewares=[error_middleware])
    alone.router.add_routes(app[METRICS].routes())
    runner = web.AppRunner(alone, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise OSError(exc.errno, f"metrics port {host}:{port} "
                                 f"(SEATSERVER_METRICS_PORT): {exc.strerror}") from exc
    log.info("metrics on %s:%d/metrics", host, port)
    return runner


def _bound_port(runner: web.AppRunner, fallback: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            port: int = address[1]
            return port
    return fallback


class _Signals:
    """SIGINT and SIGTERM, handled by the loop from the first wait until the
    shutdown has run: the first starts it, a later one is only logged. The
    shutdown is bounded (SHUTDOWN_TIMEOUT_S for open connections, then each
    feature's stop), and a second signal from an impatient operator or an
    orchestrator must not tear it apart midway (it used to raise SystemExit
    inside the features' stops, each logging a traceback)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, stopping: Callable[[], None] | None = None) -> None:
        self._stopping = stopping
        self._stop = asyncio.Event()
        self._previous: dict[int, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    async def first(self) -> None:
        self._loop = asyncio.get_running_loop()
        for sig in self.SIGNALS:
            self._previous[sig] = signal.getsignal(sig)
            self._loop.add_signal_handler(sig, self._received, sig)
        await self._stop.wait()

    def _received(self, sig: signal.Signals) -> None:
        if self._stop.is_set():
            log.warning("%s: already shutting down (open connections get up to %.0f s)",
                        sig.name, SHUTDOWN_TIMEOUT_S)
        elif self._stopping is not None:
            self._stopping()
        self._stop.set()

    def remove(self) -> None:
        """Hand the signals back: remove_signal_handler leaves SIGTERM at the
        default (die at once), so what the caller had is put back."""
        if self._loop is None:
            return
        for sig, previous in self._previous.items():
            self._loop.remove_signal_handler(sig)
            signal.signal(sig, previous)
        self._loop = None


# -- the worker supervisor --------------------------------------------------------


def run_workers(settings: Settings, count: int, *, announce: Announce | None) -> int:
    """Run ``count`` worker processes on ``settings.port`` until a signal or a death.

    Returns 0 when the workers stopped because we were asked to stop, 1 when
    one of them exited on its own.
    """
    if not settings.redis_url or not settings.database_url:
        raise ValueError("workers need redis_url and database_url")
    port = settings.port or free_port(settings.host)
    env = os.environ | {
        "REDIS_URL": settings.redis_url, "DATABASE_URL": settings.database_url,
        "SEATSERVER_HOST": settings.host, "SEATSERVER_PORT": str(port), WORKER_ENV: "1",
    }
    workers: list[subprocess.Popen[bytes]] = []
    stopping = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        _signal_all(workers, signal.Signals(signum))

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for index in range(count):
            workers.append(_spawn_worker(env | {WORKER_INDEX_ENV: str(index)}))
        log.info("started %d workers: pids %s", count, " ".join(str(w.pid) for w in workers))
        failed = _supervise(workers, settings.host, port, announce, lambda: stopping)
    finally:
        _signal_all(workers, signal.SIGTERM)
        _reap_all(workers)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 1 if failed else 0


def _spawn_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    # A session of its own: a terminal's Ctrl-C reaches only the parent, which
    # forwards it once; the parent-death signal covers a parent killed outright.
    return subprocess.Popen(
        [sys.executable, "-m", "seatserver", "serve", "--workers", "1"],
        env=env, stdin=subprocess.DEVNULL, start_new_session=True,
        preexec_fn=die_with_parent(signal.SIGTERM),
    )


def _supervise(workers: list[subprocess.Popen[bytes]], host: str, port: int,
               announce: Announce | None, stopping: Callable[[], bool]) -> bool:
    """Wait until every worker has exited; True if one of them exited on its own."""
    failed = False
    announced = announce is None
    started = time.monotonic()
    while any(w.poll() is None for w in workers):
        dead = [w for w in workers if w.returncode is not None]
        if dead and not stopping() and not failed:
            log.error("worker %d exited with code %s; stopping the others",
                      dead[0].pid, dead[0].returncode)
            failed = True
            _signal_all(workers, signal.SIGTERM)
        if not announced and _accepts(host, port):
            announced = True
            if announce is not None:
                announce(port)
        elif not announced and time.monotonic() - started > READY_TIMEOUT_S:
            log.warning("workers are not listening on port %d after %.0fs",
                        port, READY_TIMEOUT_S)
            announced = True
        time.sleep(0.1)
    return failed or (not stopping() and any(w.returncode != 0 for w in workers))


def _signal_all(workers: list[subprocess.Popen[bytes]], sig: signal.Signals) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(sig)


def _reap_all(workers: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + WORKER_STOP_TIMEOUT_S
    for worker in workers:
        try:
            worker.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("worker %d did not stop in time; killing it", worker.pid)
            worker.kill()
            worker.wait()


def _accepts(host: str, port: int) -> bool:
    target = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    try:
        with socket.create_connection((target, port), timeout=0.2):
            return True
    except OSError:
        return False
