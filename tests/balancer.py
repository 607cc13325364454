"""deploy/haproxy.cfg run by Debian's haproxy in front of seatserver instances:
for the load-balancer test and the chaos runs (tests/chaos)."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from seatserver.ports import free_port
from tests.processes import wait_for_port
from tests.support import eventually

CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "haproxy.cfg"


class NoHAProxy(RuntimeError):
    """HAProxy is not installed."""


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")
    if found is None:
        raise NoHAProxy("the load balancer needs HAProxy: apt-get install haproxy "
                        "(`make test` installs it when run as root)")
    return found


@dataclass
class Balancer:
    url: str
    stats_url: str
    proc: subprocess.Popen[bytes]

    async def servers(self, http: aiohttp.ClientSession) -> dict[str, dict[str, str]]:
        """Each backend server's row of HAProxy's CSV statistics (app1, app2)."""
        async with http.get(self.stats_url + "/;csv") as resp:
            text = (await resp.text()).lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return {r["svname"]: r for r in rows
                if r["pxname"] == "instances" and r["svname"] not in ("BACKEND", "FRONTEND")}

    async def until(self, http: aiohttp.ClientSession, server: str, status: str,
                    within: float = 10) -> float:
        """Wait until the health checks say ``server`` is ``status`` (UP, DOWN)."""
        async def there() -> bool:
            return (await self.servers(http))[server]["status"].startswith(status)

        return await eventually(there, within=within, interval=0.05)


def start_haproxy(binary: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    check = subprocess.run([binary, "-c", "-f", str(CONFIG)], env=env,
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    return subprocess.Popen([binary, "-db", "-f", str(CONFIG)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@asynccontextmanager
async def balancer_for(ports: list[int], http: aiohttp.ClientSession
                       ) -> AsyncIterator[Balancer]:
    """HAProxy in front of the two instances on ``ports``, once both are UP."""
    binary = haproxy_binary()
    port, stats = free_port(), free_port()
    env = {**os.environ, "LB_BIND": f"127.0.0.1:{port}",
           "LB_STATS_BIND": f"127.0.0.1:{stats}",
           "LB_BACKEND_1": f"127.0.0.1:{ports[0]}",
           "LB_BACKEND_2": f"127.0.0.1:{ports[1]}"}
    proc = await asyncio.to_thread(start_haproxy, binary, env)
    lb = Balancer(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{stats}", proc)
    try:
        await asyncio.to_thread(wait_for_port, port, 10.0, proc)
        for server in ("app1", "app2"):
            await lb.until(http, server, "UP")
        yield lb
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
