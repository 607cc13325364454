"""The hold-path ceiling: raw redis-py EVALSHA of our hold and release scripts.

``python -m bench.raw --redis-url U --concurrency C --duration S --showtimes 1,2``
runs C tasks in this one process, each alternating a hold and a release of
its own seat as its own holder with the very scripts and arguments the
server's HoldEngine sends (prelude included), one EVALSHA per await,
through a blocking pool of C connections. It prints one JSON line: commands
completed per second. This is the ceiling issue 3 names: what our hold path
could reach if WebSocket, parsing and validation cost nothing, and if it
sent one script per round trip.

``--pipeline N``: each task sends N holds and their N releases in one
pipeline instead (N distinct seats and holders per task), as the server's
ScriptBatcher does with the calls of one loop iteration: the ceiling of a
client that batches, given for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis

from seatserver import redis_keys
from seatserver.holds.engine import script_text
from seatserver.settings import Settings

RAW_ADDRESS_CAP = 1_000_000




def _calls(i: int, showtimes: list[int], settings: Settings
           ) -> tuple[list[str], list[Any], list[Any]]:
    """Keys, hold arguments and release arguments for the i-th holder and seat."""
    showtime = showtimes[i % len(showtimes)]
    keys = redis_keys.showtime_keys(showtime)
    holder, seat = f"raw{i}", f"R{i}"
    # Every raw holder acts from one address under a cap far above the run's
    # holds, so the per-address bookkeeping a real hold does is measured too.
    hold_args = [settings.stream_maxlen, holder, settings.hold_ttl_s * 1000,
                 settings.max_seats, settings.backstop_ms, RAW_ADDRESS_CAP, "127.0.0.1",
                 settings.hold_limit_s * 1000, "", "1", seat]  # no seating rules; a buyer's hold
    release_args = [settings.stream_maxlen, holder, seat]
    return keys, hold_args, release_args


async def run(redis_url: str, concurrency: int, duration: float, showtimes: list[int],
              pipeline: int = 0) -> dict[str, float]:
    settings = Settings()
    pool = BlockingConnectionPool.from_url(redis_url, max_connections=concurrency, timeout=10)
    redis = Redis.from_pool(pool)
    hold_sha = await redis.script_load(script_text("hold"))
    release_sha = await redis.script_load(script_text("release"))
    done = 0
    stop = False

    async def worker(i: int) -> None:
        nonlocal done
        keys, hold_args, release_args = _calls(i, showtimes, settings)
        while not stop:
            reply = await redis.evalsha(hold_sha, len(keys), *keys, *hold_args)
            assert reply[0] == b"ok", reply
            reply = await redis.evalsha(release_sha, len(keys), *keys, *release_args)
            assert reply[0] == b"ok", reply
            done += 2

    async def batcher(i: int) -> None:
        nonlocal done
        calls = [_calls(i * pipeline + n, showtimes, settings) for n in range(pipeline)]
        while not stop:
            async with redis.pipeline(transaction=False) as pipe:
                for keys, hold_args, _ in calls:
                    pipe.evalsha(hold_sha, len(keys), *keys, *hold_args)
                for keys, _, release_args in calls:
                    pipe.evalsha(release_sha, len(keys), *keys, *release_args)
                replies = await pipe.execute()
            assert all(r[0] == b"ok" for r in replies), replies
            done += 2 * pipeline

    tasks = [asyncio.create_task(batcher(i) if pipeline else worker(i))
             for i in range(concurrency)]
    await asyncio.sleep(min(1.0, duration / 2))  # warm up: connections, scripts
    start_done, start = done, time.perf_counter()
    await asyncio.sleep(duration)
    count, took = done - start_done, time.perf_counter() - start
    stop = True
    await asyncio.gather(*tasks)
    await redis.aclose()
    return {"ops_per_s": count / took, "concurrency": concurrency, "pipeline": pipeline}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--showtimes", default="1,2")
    parser.add_argument("--pipeline", type=int, default=0)
    args = parser.parse_args()
    showtimes = [int(s) for s in args.showtimes.split(",")]
    main = run(args.redis_url, args.concurrency, args.duration, showtimes, args.pipeline)
    try:
        import uvloop
        result = uvloop.run(main)
    except ImportError:
        result = asyncio.run(main)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
