"""Redis clients: for a single server or for a Redis Cluster, decided once at start.

Every key of a showtime shares one hash slot, so the server runs unchanged on
a cluster; only the clients differ. ``SEATSERVER_REDIS_CLUSTER=auto`` (the
default) asks the node in ``REDIS_URL`` (``INFO cluster``) at start; a node
that cannot be asked then is taken for a single server, with a warning, so
that a Redis that is down does not keep the server from starting. Set it to
``yes`` for a cluster, and the question is never asked.
"""

from __future__ import annotations

import logging

import redis
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ClusterError, RedisClusterException
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from seatserver.settings import Settings

log = logging.getLogger(__name__)

RedisClient = Redis | RedisCluster

# What "Redis cannot answer now" looks like, from a single server or a cluster
# (a cluster that cannot be reached, a slot no node serves, CLUSTERDOWN).
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError,
              RedisClusterException, ClusterError)

DETECT_TIMEOUT_S = 2.0


async def is_cluster_node(url: str) -> bool | None:
    """Whether the node at ``url`` runs in cluster mode; None when it cannot be asked."""
    client = Redis.from_url(url, socket_connect_timeout=DETECT_TIMEOUT_S,
                            socket_timeout=DETECT_TIMEOUT_S)
    try:
        info = await client.info("cluster")
    except (redis.RedisError, OSError) as exc:
        log.warning("could not ask Redis at start whether it is a cluster (%s)", exc)
        return None
    finally:
        await client.aclose()
    return bool(info.get("cluster_enabled"))


async def cluster_mode(settings: Settings) -> bool:
    """Whether ``settings.redis_url`` is a Redis Cluster (asking it when set to auto).

    Run when the app starts, not when it is made: making an app does no I/O.
    """
    if settings.redis_cluster is not None:
        return settings.redis_cluster
    if not settings.redis_url:
        return False
    found = await is_cluster_node(settings.redis_url)
    if found is None:
        log.warning("taking REDIS_URL for a single Redis server; for a cluster set "
                    "SEATSERVER_REDIS_CLUSTER=yes")
        return False
    if found:
        log.info("REDIS_URL is a Redis Cluster node: using the cluster clients")
    return found


def connect(url: str, *, cluster: bool, max_connections: int,
            socket_timeout: float) -> RedisClient:
    """A client for ``url``: a blocking pool of ``max_connections`` on a single
    server (a command waits for a free connection rather than failing), or a
    cluster client with up to ``max_connections`` per node."""
    if cluster:
        return RedisCluster.from_url(
            url, max_connections=max_connections, socket_timeout=socket_timeout,
            socket_connect_timeout=2, health_check_interval=30)
    pool = BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=5, socket_timeout=socket_timeout,
        socket_connect_timeout=2, health_check_interval=30,
    )
    return Redis.from_pool(pool)  # owns the pool: aclose() closes its connections
