"""ClusterScriptBatcher: the hold scripts on a Redis Cluster, one pipelined socket per master.

Every key of a showtime carries the hash tag ``{st:<id>}``, so a script call
touches one hash slot. It goes to the master serving that slot over the
master's own ``ScriptBatcher`` (the single-server fast path, one per node),
so calls for different masters never wait on each other. The slot map is
redis-py's (``RedisCluster.nodes_manager``): one map per process, shared with
the ordinary commands.

Redirections are followed as the cluster specification says:
  * ``MOVED`` (the slot has a new owner): the map is patched, the call is
    sent again to the new owner;
  * ``ASK`` (the slot is migrating and this call's keys are already at the
    target): ``ASKING`` and the call go to the target back to back, once,
    leaving the map alone;
  * ``TRYAGAIN`` (mid-migration, the call's keys are split between the two
    nodes, or the target lacks one: every showtime key is declared and an
    empty one does not exist): a short wait, then again, for up to
    TRYAGAIN_FOR_S;
  * ``NOSCRIPT``: the script is loaded on that node, then the call again.
A master that cannot be reached (or answers ``CLUSTERDOWN``) fails the calls
for its own slots, which the engine answers as ``unavailable``; the others go
on. Each such failure asks for a refresh of the slot map in the background
(at most one a second), so that after a failover the calls find the
promoted replica.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.commands.core import AsyncScript
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MovedError, RedisClusterException, ResponseError

from seatserver.holds.batcher import ScriptBatcher, is_noscript
from seatserver.holds.wire import ScriptConnection, pack

log = logging.getLogger(__name__)

# Redirections (MOVED, ASK, NOSCRIPT) one call may follow before it gives up,
# and how long it keeps retrying TRYAGAIN (a slot's keys mid-migration).
MAX_REDIRECTS = 8
TRYAGAIN_WAIT_S = 0.05
TRYAGAIN_FOR_S = 2.0
REFRESH_INTERVAL_S = 1.0
MAX_CACHED_SLOTS = 10_000
ASKING = pack(["ASKING"])


class ClusterScriptBatcher:
    def __init__(self, cluster: RedisCluster, *, timeout: float = 5.0) -> None:
        self._cluster = cluster
        self._timeout = timeout
        self._slots: dict[Any, int] = {}  # a call's first key -> its hash slot
        self._nodes: dict[str, ScriptBatcher] = {}  # "host:port" -> that node's batcher
        self._refresh: asyncio.Task[None] | None = None
        self._refreshed_at = 0.0

    async def call(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]
                   ) -> Any:
        command = pack(["EVALSHA", script.sha, len(keys), *keys, *args])
        slot = self._slot(keys[0])
        asking: str | None = None  # "host:port" an ASK sent us to
        redirects = 0
        patience = time.monotonic() + TRYAGAIN_FOR_S
        while True:
            node = self._batcher_at(asking) if asking else await self._master(slot)
            if asking:
                # Its +OK is not awaited: it only has to precede the call.
                node.submit(ASKING).add_done_callback(_ignore)
            try:
                reply = await node.submit(command)
            except RedisConnectionError:
                self._ask_refresh()
                raise
            if not isinstance(reply, ResponseError):
                return reply
            message = str(reply)
            log.debug("slot %s: %s", slot, message)
            if message.startswith("TRYAGAIN") and time.monotonic() < patience:
                # Mid-migration the source sends us on (ASK) and the importing
                # master refuses until it has every key the call declares; the
                # patience, not the count of redirects, bounds that wait.
                await asyncio.sleep(TRYAGAIN_WAIT_S)
                asking = None
                redirects = 0
                continue
            redirects += 1
            if redirects > MAX_REDIRECTS:
                raise RedisConnectionError(f"slot {slot}: still redirected after "
                                           f"{MAX_REDIRECTS} tries ({message})")
            asking = await self._follow(reply, message, node, script, asking)

    async def _follow(self, reply: ResponseError, message: str, node: ScriptBatcher,
                      script: AsyncScript, asking: str | None) -> str | None:
        """Act on an error reply; returns where to ask next (an ASK's node), or raises."""
        if message.startswith("MOVED "):
            await self._cluster.nodes_manager.move_slot(MovedError(message[len("MOVED "):]))
            return None
        if message.startswith("ASK "):
            return message.split(" ")[2]
        if is_noscript(reply):
            await node.load(script)
            return asking
        if message.startswith(("CLUSTERDOWN", "TRYAGAIN")):
            self._ask_refresh()
            raise RedisConnectionError(f"Redis Cluster cannot run the call now: {message}")
        raise reply

    async def close(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
            await asyncio.gather(self._refresh, return_exceptions=True)
        for batcher in self._nodes.values():
            await batcher.close()
        self._nodes.clear()

    def _slot(self, key: Any) -> int:
        slot = self._slots.get(key)
        if slot is None:
            if len(self._slots) >= MAX_CACHED_SLOTS:
                self._slots.clear()
            slot = self._slots[key] = key_slot(key.encode() if isinstance(key, str) else key)
        return slot

    async def _master(self, slot: int) -> ScriptBatcher:
        manager = self._cluster.nodes_manager
        nodes = manager.slots_cache.get(slot)
        if not nodes:
            try:
                await self._cluster.initialize()  # the first call, or the map was lost
            except RedisClusterException as exc:
                raise RedisConnectionError(f"cannot reach the Redis Cluster: {exc}") from exc
            nodes = manager.slots_cache.get(slot)
            if not nodes:
                self._ask_refresh()
                raise RedisConnectionError(f"slot {slot} is not served by any node")
        return self._batcher_of(nodes[0])

    def _batcher_of(self, node: ClusterNode) -> ScriptBatcher:
        batcher = self._nodes.get(node.name)
        if batcher is None:
            batcher = self._nodes[node.name] = ScriptBatcher(ScriptConnection(
                node.connection_class, node.connection_kwargs, timeout=self._timeout))
        return batcher

    def _batcher_at(self, address: str) -> ScriptBatcher:
        node = self._cluster.nodes_manager.get_node(node_name=address)
        if node is not None:
            return self._batcher_of(node)
        batcher = self._nodes.get(address)
        if batcher is None:  # a node the map does not know yet (a new one, mid-resharding)
            host, _, port = address.rpartition(":")
            params: dict[str, Any] = {**self._cluster.get_connection_kwargs(), "host": host,
                                      "port": int(port)}
            batcher = self._nodes[address] = ScriptBatcher(ScriptConnection(
                params["connection_class"], params, timeout=self._timeout))
        return batcher

    def _ask_refresh(self) -> None:
        """Refresh the slot map soon, unless a refresh runs or ran within the interval."""
        if self._refresh is not None and not self._refresh.done():
            return
        if time.monotonic() - self._refreshed_at < REFRESH_INTERVAL_S:
            return
        self._refreshed_at = time.monotonic()
        self._refresh = asyncio.create_task(self._refresh_map())

    async def _refresh_map(self) -> None:
        try:
            await self._cluster.nodes_manager.initialize()
        except Exception as exc:  # the next failure asks again
            log.warning("could not refresh the Redis Cluster slot map: %s", exc)
            return
        known = self._cluster.nodes_manager.nodes_cache
        for name in [n for n in self._nodes if n not in known]:
            await self._nodes.pop(name).close()


def _ignore(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # seen: a lost connection fails the call after it too

