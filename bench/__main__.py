"""Every benchmark in turn, then one table of figures: ``python -m bench`` (``make bench``).

Options: ``--quick`` (short runs, a smoke test), ``--markdown`` (the table as
markdown, for docs/performance.md), ``--only holds,fanout`` (some of them).
A benchmark that crashes is reported as such and the others still run; the
exit status is 1 then, and 0 otherwise, whether or not targets were met (the
table says which were missed).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
import traceback
from collections.abc import Awaitable, Callable

from bench import expiry, fanout, holds, loadgen, memory, seating
from bench.machine import describe
from bench.report import Row, print_rows, run_loop, say
from bench.services import prepare

BENCHES: dict[str, Callable[[bool], Awaitable[list[Row]]]] = {
    "holds": holds.bench,
    "fanout": fanout.bench,
    "expiry": expiry.bench,
    "memory": memory.bench,
    "loadgen": loadgen.bench,
    "seating": seating.bench,
}


async def machine() -> dict[str, str]:
    services = await prepare()
    try:
        info = await describe(services.redis_url, services.database_url)
        info["services"] = services.origin
        return info
    finally:
        services.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--only", default=",".join(BENCHES))
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    started = time.monotonic()
    info = run_loop(machine())
    load_before = os.getloadavg()
    rows: list[Row] = []
    crashed = False
    for name in chosen:
        say(f"== {name}")
        began = time.monotonic()
        try:
            rows += run_loop(BENCHES[name](args.quick))
        except Exception as exc:
            traceback.print_exc()
            rows.append(Row(f"{name}: did not run to the end", f"{type(exc).__name__}: {exc}",
                            passed=False))
            crashed = True
        say(f"== {name} took {time.monotonic() - began:.0f} s")
    command = "python -m bench " + shlex.join(sys.argv[1:])
    print(f"\ncommand: {command.strip()}  ({time.monotonic() - started:.0f} s)")
    print(f"machine: {info['nproc']} cores, {info['cpu']}; Python {info['python']}, "
          f"Redis {info['redis']}, PostgreSQL {info['postgresql']}")
    print(f"services: {info['services']}; servers under test run one worker process each "
          "unless a figure says otherwise")
    print("load average before/after: "
          f"{' '.join(f'{x:.2f}' for x in load_before)} / "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print_rows(rows, markdown=args.markdown)
    sys.exit(1 if crashed else 0)


if __name__ == "__main__":
    main()
