"""The hold-path ceiling: raw redis-py EVALSHA of our hold and release scripts.

``python -m bench.raw --redis-url U --concurrency C --duration S --showtimes 1,2``
runs C tasks in this one process, each alternating a hold and a release of
its own seat as its own holder with the very scripts and arguments the
server's HoldEngine sends (prelude included), one EVALSHA per await with no
pipelining, through a blocking pool of C connections. It prints one JSON line:
commands completed per second. This is the most one Python process can push
through redis-py here, i.e. what our server's hold path could reach if
WebSocket, parsing and validation cost nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from importlib import resources

from redis.asyncio import BlockingConnectionPool, Redis

from seatserver import redis_keys
from seatserver.settings import Settings


def script(name: str) -> str:
    """The script text exactly as HoldEngine loads it: prelude, then the verb."""
    lua = resources.files("seatserver.holds") / "lua"
    return (lua / "_prelude.lua").read_text() + "\n" + (lua / f"{name}.lua").read_text()


async def run(redis_url: str, concurrency: int, duration: float, showtimes: list[int]
              ) -> dict[str, float]:
    settings = Settings()
    pool = BlockingConnectionPool.from_url(redis_url, max_connections=concurrency, timeout=10)
    redis = Redis.from_pool(pool)
    hold_sha = await redis.script_load(script("hold"))
    release_sha = await redis.script_load(script("release"))
    done = 0
    stop = False

    async def worker(i: int) -> None:
        nonlocal done
        showtime = showtimes[i % len(showtimes)]
        keys = [redis_keys.expiries(showtime), redis_keys.booked(showtime),
                redis_keys.events(showtime)]
        common = [redis_keys.seat_prefix(showtime), redis_keys.mine_prefix(showtime),
                  settings.stream_maxlen]
        holder, seat = f"raw{i}", f"R{i}"
        hold_args = [*common, holder, settings.hold_ttl_s * 1000, settings.max_seats,
                     settings.backstop_ms, seat]
        release_args = [*common, holder, seat]
        while not stop:
            reply = await redis.evalsha(hold_sha, len(keys), *keys, *hold_args)
            assert reply[0] == b"ok", reply
            reply = await redis.evalsha(release_sha, len(keys), *keys, *release_args)
            assert reply[0] == b"ok", reply
            done += 2

    tasks = [asyncio.create_task(worker(i)) for i in range(concurrency)]
    await asyncio.sleep(min(1.0, duration / 2))  # warm up: connections, scripts
    start_done, start = done, time.perf_counter()
    await asyncio.sleep(duration)
    count, took = done - start_done, time.perf_counter() - start
    stop = True
    await asyncio.gather(*tasks)
    await redis.aclose()
    return {"ops_per_s": count / took, "concurrency": concurrency}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--showtimes", default="1,2")
    args = parser.parse_args()
    showtimes = [int(s) for s in args.showtimes.split(",")]
    try:
        import uvloop
        result = uvloop.run(run(args.redis_url, args.concurrency, args.duration, showtimes))
    except ImportError:
        result = asyncio.run(run(args.redis_url, args.concurrency, args.duration, showtimes))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
