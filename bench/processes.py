"""The processes of a benchmark: our server, the bare baseline, the load agents.

Every one of them is a separate OS process, so the server under test never
shares a core's time slice with the code that measures it in the same
interpreter. Each process inherits the raised descriptor limit of the
benchmark that starts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import orjson
import psutil

from bench.agent import raise_fd_limit
from seatserver.embedded import die_with_parent
from seatserver.ports import free_port

STARTUP_S = 60.0


async def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path | None) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = _tail(log)
            raise RuntimeError(f"process exited with {proc.returncode} before listening\n{tail}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise TimeoutError(f"nothing listening on {port} after {STARTUP_S}s")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its descendants so far."""
    process = psutil.Process(pid)
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = p.cpu_times()
            total += times.user + times.system
    return total


def _tail(log: Path | None) -> str:
    return log.read_text()[-3000:] if log else ""


class Listener:
    """A server process on a free port of 127.0.0.1, its output in a log file."""

    name = "server"

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self._argv = argv
        self._env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss(self) -> int:
        """Resident memory of the process and any children (workers)."""
        process = psutil.Process(self.pid)
        return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def worker_pids(self) -> list[int]:
        """The processes that serve: the workers, or the one process itself."""
        children = psutil.Process(self.pid).children(recursive=True)
        return [c.pid for c in children] or [self.pid]

    async def start(self) -> None:
        self.proc = self._spawn()
        await wait_for_port(self.port, self.proc, self.log_path)

    def log_lines(self, containing: str) -> list[str]:
        """The messages of the log's lines that contain ``containing`` (JSON
        lines give their ``message``), oldest first."""
        if self.log_path is None or not self.log_path.exists():
            return []
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if containing not in line:
                continue
            try:
                found.append(str(json.loads(line)["message"]))
            except (ValueError, KeyError, TypeError):
                found.append(line)
        return found

    def _spawn(self) -> subprocess.Popen[bytes]:
        raise_fd_limit()
        fd, path = tempfile.mkstemp(prefix=f"seatserver-bench-{self.name}-", suffix=".log")
        os.close(fd)
        self.log_path = Path(path)
        self._log = self.log_path.open("wb")
        return subprocess.Popen(
            [sys.executable, *self._argv], env=self._env, stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(signal.SIGTERM))  # never outlive a crashed bench

    async def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            for _ in range(300):
                if self.proc.poll() is not None:
                    break
                await asyncio.sleep(0.05)
            else:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.log_path is not None and self.proc is not None and self.proc.returncode in (
                0, -signal.SIGTERM):
            self.log_path.unlink(missing_ok=True)

    async def __aenter__(self) -> Listener:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


# Benchmarks play thousands of buyers from one address (127.0.0.1): the
# per-address limits a cinema sets for the public are raised, on purpose.
# The seats-per-address cap stays on (its bookkeeping is part of every hold
# measured), just far above what a benchmark holds. The round trip's room of
# watchers shares one session, past the sockets-per-session cap.
MANY_BUYERS_ENV = {"SEATSERVER_GUEST_SESSIONS_PER_MINUTE": "1000000",
                   "SEATSERVER_MAX_SEATS_PER_ADDRESS": "1000000",
                   "SEATSERVER_MAX_SOCKETS_PER_SESSION": "1000000"}


class SeatServer(Listener):
    """``seatserver serve`` with the benchmark's Redis and PostgreSQL."""

    name = "seatserver"

    def __init__(self, redis_url: str, database_url: str, *, workers: int = 1,
                 env: dict[str, str] | None = None) -> None:
        super().__init__([], {**MANY_BUYERS_ENV, **(env or {})})
        self._argv = ["-m", "seatserver", "serve", "--host", "127.0.0.1",
                      "--port", str(self.port), "--workers", str(workers)]
        self._env.update({"REDIS_URL": redis_url, "DATABASE_URL": database_url})
        self._env.pop("SEATSERVER_WORKER", None)


class BareServer(Listener):
    name = "bare"

    def __init__(self) -> None:
        super().__init__([])
        self._argv = ["-m", "bench.bare", "--port", str(self.port)]


class Agent:
    """A load process (``bench.agent``), called one JSON command at a time."""

    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def start(self, nice: int = 0) -> Agent:
        """``nice``: how much lower than ours its CPU priority is (0: the same)."""
        raise_fd_limit()
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.agent", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, limit=1 << 26,
            preexec_fn=die_with_parent(signal.SIGTERM))
        if nice:
            self.renice(nice)
        return self

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def renice(self, nice: int) -> None:
        """Run ``nice`` steps below our own CPU priority (0: the same)."""
        assert self._proc is not None
        os.setpriority(os.PRIO_PROCESS, self._proc.pid, os.getpriority(
            os.PRIO_PROCESS, 0) + nice)

    def cpu_seconds(self) -> float:
        assert self._proc is not None
        return cpu_seconds(self._proc.pid)

    async def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdin and self._proc.stdout
        async with self._lock:
            self._proc.stdin.write(orjson.dumps({"cmd": cmd, **args}) + b"\n")
            await self._proc.stdin.drain()
            line = await self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"agent {self._proc.pid} died during {cmd}")
        reply: dict[str, Any] = orjson.loads(line)
        if not reply.pop("ok"):
            raise RuntimeError(f"agent {cmd} failed: {reply['error']}")
        return reply

    async def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.returncode is None:
            with contextlib.suppress(Exception):
                assert self._proc.stdin is not None
                self._proc.stdin.write(b'{"cmd":"quit"}\n')
                await self._proc.stdin.drain()
            try:
                await asyncio.wait_for(self._proc.wait(), 10)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()


async def start_agents(n: int, nice: int = 0) -> list[Agent]:
    return list(await asyncio.gather(*(Agent().start(nice) for _ in range(n))))


async def stop_all(*things: Listener | Agent) -> None:
    await asyncio.gather(*(t.stop() for t in things), return_exceptions=True)
