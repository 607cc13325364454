"""deploy/haproxy.cfg in front of two `seatserver serve` processes (Debian's haproxy).

The same configuration file docker-compose.yml mounts: WebSockets pass
through it, both instances get connections, and when one instance dies the
LB's health check takes it out while its clients reconnect through the LB
to the other and resume with ``since``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from seatserver.loadgen.client import SeatClient, new_session
from tests.processes import ServerProcess, free_port, wait_for_port
from tests.support import eventually

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "haproxy.cfg"
CLIENTS = 8


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")
    if found is None:
        pytest.fail("the load balancer test needs HAProxy: apt-get install haproxy "
                    "(`make test` installs it when run as root)")
    return found


@dataclass
class Balancer:
    url: str
    stats_url: str
    proc: subprocess.Popen[bytes]

    async def servers(self, http: aiohttp.ClientSession) -> dict[str, dict[str, str]]:
        """Each backend server's row of HAProxy's CSV statistics."""
        async with http.get(self.stats_url + "/;csv") as resp:
            text = (await resp.text()).lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return {r["svname"]: r for r in rows
                if r["pxname"] == "instances" and r["svname"] not in ("BACKEND", "FRONTEND")}


def start_haproxy(binary: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    check = subprocess.run([binary, "-c", "-f", str(CONFIG)], env=env,
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    return subprocess.Popen([binary, "-db", "-f", str(CONFIG)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def instances(redis_url: str, database_url: str, demo: list[int]
                    ) -> AsyncIterator[list[ServerProcess]]:
    env = {"REDIS_URL": redis_url, "DATABASE_URL": database_url}
    servers = [ServerProcess(env), ServerProcess(env)]
    try:
        await asyncio.gather(*(s.start() for s in servers))
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
async def balancer(instances: list[ServerProcess], http: aiohttp.ClientSession
                   ) -> AsyncIterator[Balancer]:
    binary = haproxy_binary()
    port, stats = free_port(), free_port()
    env = {**os.environ, "LB_BIND": f"127.0.0.1:{port}",
           "LB_STATS_BIND": f"127.0.0.1:{stats}",
           "LB_BACKEND_1": f"127.0.0.1:{instances[0].port}",
           "LB_BACKEND_2": f"127.0.0.1:{instances[1].port}"}
    proc = await asyncio.to_thread(start_haproxy, binary, env)
    lb = Balancer(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{stats}", proc)
    try:
        await asyncio.to_thread(wait_for_port, port, 10.0, proc)

        async def both_up() -> bool:
            return all(r["status"] == "UP" for r in (await lb.servers(http)).values())

        await eventually(both_up, within=10)
        yield lb
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


async def connect(http: aiohttp.ClientSession, url: str) -> SeatClient:
    return await SeatClient(http, url, await new_session(http, url)).connect()


async def test_websockets_pass_the_balancer_and_reach_both_instances(
        balancer: Balancer, http: aiohttp.ClientSession, demo: list[int]) -> None:
    showtime = demo[0]
    clients = [await connect(http, balancer.url) for _ in range(CLIENTS)]
    try:
        await asyncio.gather(*(c.subscribe(showtime) for c in clients))
        servers = await balancer.servers(http)
        assert all(int(row["scur"]) >= CLIENTS // 2 - 1 for row in servers.values()), servers
        assert (await clients[0].hold(showtime, ["A1"]))["ok"]
        await eventually(lambda: all("A1" in c.views[showtime].held for c in clients),
                         within=3)
    finally:
        await asyncio.gather(*(c.close() for c in clients))


async def test_when_an_instance_dies_clients_resume_through_the_balancer(
        balancer: Balancer, instances: list[ServerProcess], http: aiohttp.ClientSession,
        demo: list[int]) -> None:
    showtime = demo[0]
    clients = [await connect(http, balancer.url) for _ in range(CLIENTS)]
    try:
        await asyncio.gather(*(c.subscribe(showtime) for c in clients))
        assert (await clients[0].hold(showtime, ["B1"]))["ok"]  # a position to resume from
        await eventually(lambda: all("B1" in c.views[showtime].held for c in clients),
                         within=3)
        victim = instances[0]
        assert victim.proc is not None
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(10)
        await eventually(lambda: sum(c.closed for c in clients) >= CLIENTS // 2 - 1,
                         within=5)
        cut = [c for c in clients if c.closed]

        async def marked_down() -> bool:
            return (await balancer.servers(http))["app1"]["status"].startswith("DOWN")

        await eventually(marked_down, within=10)
        # Changes made while they were away reach them on resume, exactly once.
        survivor = next(c for c in clients if not c.closed)
        assert (await survivor.hold(showtime, ["B2"]))["ok"]
        for client in cut:
            await client.connect()
            ack = await client.subscribe(showtime, since=client.views[showtime].offset)
            assert ack["ok"] and ack["resumed"] is True, ack
        assert (await cut[0].hold(showtime, ["B3"]))["ok"]
        await eventually(lambda: all({"B1", "B2", "B3"} <= c.views[showtime].held
                                     for c in clients), within=3)
        assert not any(c.violations for c in clients)
    finally:
        await asyncio.gather(*(c.close() for c in clients))
