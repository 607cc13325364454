"""``seatserver serve`` as a subprocess that a browser test may stop and restart."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from typing import IO

from seatserver.ports import free_port
from tests import forked, tracebacks
from tests.conftest import MANY_BUYERS_ENV, TEST_COSTS_ENV
from tests.processes import wait_for_port

# Settings a developer's shell might carry that must not leak into a test server.
_SCRUBBED = ("REDIS_URL", "DATABASE_URL", "SEATSERVER_", "TEST_REDIS_URL", "TEST_DATABASE_URL")
DEFAULT_HOLD_TTL_S = 120


class Server:
    """One ``seatserver serve --workers 1`` on 127.0.0.1; ``port`` survives a restart."""

    def __init__(self, redis_url: str, database_url: str, *, port: int | None = None,
                 **settings: str) -> None:
        self.port = port or free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED)}
        self.env = env | {"REDIS_URL": redis_url, "DATABASE_URL": database_url,
                          "SEATSERVER_HOLD_TTL": str(DEFAULT_HOLD_TTL_S)
                          } | MANY_BUYERS_ENV | TEST_COSTS_ENV | settings
        self.proc: forked.Process | None = None
        self.log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        self._report()  # a restart: the last run's output, before a new file
        # Output to a file, not a pipe nobody reads: a chatty server would block.
        self.log = tempfile.TemporaryFile(prefix="seatserver-e2e-")  # noqa: SIM115
        self.proc = forked.spawn(
            ["serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
            self.env, self.log)
        try:
            wait_for_port(self.port, 30.0, self.proc)
        except Exception as exc:
            raise RuntimeError(f"seatserver did not start:\n{self.output()}") from exc
        return self

    def stop(self) -> None:
        """SIGTERM, as a deploy would: the server closes its sockets with 1001."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def output(self) -> str:
        if self.log is None:
            return ""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def close(self) -> None:
        self.stop()
        self._report()

    def _report(self) -> None:
        """Hand the whole output to the traceback watch, and close it."""
        if self.log is not None:
            self.log.seek(0)
            tracebacks.report_output(f"server :{self.port}",
                                     self.log.read().decode(errors="replace"))
            self.log.close()
            self.log = None


class ServerFactory:
    """Starts servers on the test's Redis and database; stops them all at the end."""

    def __init__(self, redis_url: str, database_url: str) -> None:
        self.redis_url = redis_url
        self.database_url = database_url
        self.servers: list[Server] = []

    def __call__(self, *, port: int | None = None, **settings: str) -> Server:
        server = Server(self.redis_url, self.database_url, port=port, **settings)
        self.servers.append(server)
        return server.start()

    def stop_all(self) -> None:
        for server in self.servers:
            server.close()
