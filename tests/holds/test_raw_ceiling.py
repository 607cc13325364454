"""bench.raw, the hold path's ceiling, runs the engine's own hold and release
scripts with their current arguments: a script that gains an argument or a
library without bench.raw following it fails here, not in a benchmark run."""

from __future__ import annotations

import json
import subprocess
import sys

import redis


def test_the_raw_ceiling_holds_and_releases_with_the_engines_scripts(redis_url: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.raw", "--redis-url", redis_url, "--concurrency", "2",
         "--duration", "0.3", "--showtimes", "1"],
        capture_output=True, text=True, timeout=60, check=False)

    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["ops_per_s"] > 0
    with redis.Redis.from_url(redis_url) as client:
        assert client.xlen("ev:{st:1}") > 0  # the holds and releases went through
        assert client.hlen("held:{st:1}") == 0  # and every hold was released
