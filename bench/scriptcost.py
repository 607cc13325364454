"""Redis' own CPU per hold and per release, feature by feature.

``python -m bench.scriptcost --redis-url U`` runs the hold and release
scripts exactly as the server sends them, alternating a hold and a release
of single seats, once per variant: nothing but the hold itself, then with
each of the hold path's features switched on one at a time (the per-address
cap, the run limit, the waiting room's gate, the seating rules over a hall's
geometry), then all of them. Redis times each script itself (``INFO
commandstats``, reset per variant), so the figures are Redis' CPU per call,
not the client's, and hold on a busy machine far better than throughput.
Prints one JSON line per variant: Redis µs per hold and release together
(median of ``--rounds`` rounds, the variants in turn within each round).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from seatserver import redis_keys
from seatserver.holds.engine import script_text
from seatserver.holds.geometry import build_geometry
from seatserver.settings import Settings

ROWS, PER_ROW = 12, 18  # about the demo hall's 212 seats
HOLDERS = 200


@dataclass(frozen=True)
class Seat:
    id: str
    type: str
    x: int
    y: int
    accessible: bool = False
    companion_of: str | None = None


@dataclass(frozen=True)
class Plan:
    seats: dict[str, Seat]
    screen: str = "top"
    no_orphans: bool = True
    companions_alone: bool = False


def hall() -> Plan:
    seats = {}
    for row in range(ROWS):
        for n in range(1, PER_ROW + 1):
            seat = Seat(f"{chr(65 + row)}{n}", "standard", n, row)
            seats[seat.id] = seat
    return Plan(seats)


VARIANTS: dict[str, dict[str, Any]] = {
    "bare": {},
    "address cap": {"cap": True},
    "run limit": {"run": True},
    "waiting gate (no sale settings)": {"gate": True},
    "seating rules (orphans on)": {"seating": True},
    "everything": {"cap": True, "run": True, "gate": True, "seating": True},
}


async def measure(redis: Redis, showtime: int, variant: dict[str, Any], pairs: int,
                  settings: Settings) -> dict[str, float]:
    keys = redis_keys.showtime_keys(showtime)
    await redis.delete(*keys)
    hold = await redis.script_load(script_text("hold"))
    release = await redis.script_load(script_text("release"))
    version = ""
    if variant.get("seating"):
        geometry = build_geometry(hall())
        write = await redis.script_load(script_text("geometry"))
        pairs_ = [p for item in geometry.fields.items() for p in item]
        await redis.evalsha(write, len(keys), *keys, settings.stream_maxlen,
                            geometry.version, *pairs_)
        version = geometry.version
    # Every other seat of the hall is held by someone else for the whole
    # run (a half-full hall), so the rules have neighbours to look at; the
    # measured holds take the free seats in between, which never orphan.
    ids = [f"{chr(65 + r)}{n}" for r in range(ROWS) for n in range(1, PER_ROW + 1)]
    resident, free = ids[1::2], ids[0::2]
    args = [settings.stream_maxlen, "resident", settings.hold_ttl_s * 1000, 10_000,
            settings.backstop_ms, 0, "", 0, "", "0", *resident]
    assert (await redis.evalsha(hold, len(keys), *keys, *args))[0] == b"ok"

    def hold_args(i: int) -> list[Any]:
        return [settings.stream_maxlen, f"h{i % HOLDERS}", settings.hold_ttl_s * 1000,
                settings.max_seats, settings.backstop_ms,
                1_000_000 if variant.get("cap") else 0,
                f"10.0.{i % HOLDERS // 250}.{i % 250}" if variant.get("cap") else "",
                settings.hold_limit_s * 1000 if variant.get("run") else 0,
                version, "1" if variant.get("gate") else "0", free[i % len(free)]]

    await redis.config_resetstat()
    for start in range(0, pairs, 100):
        pipe = redis.pipeline(transaction=False)
        for i in range(start, min(pairs, start + 100)):
            pipe.evalsha(hold, len(keys), *keys, *hold_args(i))
            pipe.evalsha(release, len(keys), *keys, settings.stream_maxlen,
                         f"h{i % HOLDERS}", free[i % len(free)])
        replies = await pipe.execute()
        assert all(r[0] == b"ok" for r in replies), replies[:4]
    stats = await redis.info("commandstats")
    evalsha = stats["cmdstat_evalsha"]
    await redis.delete(*keys)
    return {"calls": evalsha["calls"], "usec_per_call": evalsha["usec_per_call"]}


async def releases_only(redis: Redis, showtime: int, pairs: int,
                        settings: Settings) -> float:
    """µs per release of a seat nobody holds (the prelude and the release's
    reads, no writes): the floor every script pays."""
    keys = redis_keys.showtime_keys(showtime)
    release = await redis.script_load(script_text("release"))
    await redis.config_resetstat()
    pipe = redis.pipeline(transaction=False)
    for i in range(pairs):
        pipe.evalsha(release, len(keys), *keys, settings.stream_maxlen, f"h{i}", "A1")
    await pipe.execute()
    stats = await redis.info("commandstats")
    return float(stats["cmdstat_evalsha"]["usec_per_call"])


async def run(redis_url: str, pairs: int, showtime: int, rounds: int) -> None:
    """Every variant ``rounds`` times, in turn; the median of each."""
    settings = Settings()
    redis = Redis.from_url(redis_url)
    try:
        floors = [await releases_only(redis, showtime, pairs, settings) for _ in range(rounds)]
        print(json.dumps({"variant": "release of a free seat (floor)",
                          "usec_per_call": statistics.median(floors)}))
        figures: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for _ in range(rounds):
            for name, variant in VARIANTS.items():
                got = await measure(redis, showtime, variant, pairs, settings)
                figures[name].append(float(got["usec_per_call"]) * 2)
        for name, values in figures.items():
            print(json.dumps({"variant": name, "usec_per_hold_and_release": round(
                statistics.median(values), 1), "runs": [round(v, 1) for v in values]}))
    finally:
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--showtime", type=int, default=990_001)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(run(args.redis_url, args.pairs, args.showtime, args.rounds))


if __name__ == "__main__":
    main()
