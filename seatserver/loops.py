"""The event loop our long-running processes run on: uvloop where it is
installed (every supported platform but Windows), else asyncio's own.

The server and the load generator's processes share it (the benchmarks'
runner, ``bench.report.run_loop``, picks the same way). The load generator
ran on asyncio's selector loop until py-spy showed a fifth of a worker's time
in that loop's own Python code (``Handle.__init__``, ``call_soon``, the
selector, the socket transport's ``write``) while 5,000 buyers arrived;
uvloop does that part in C (docs/performance.md, "One core for 5,000 buyers").
Both also tune the garbage collector the same way (``tune_collector``).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# gen0, gen1, gen2 thresholds (CPython's defaults: 700, 10, 10); see tune_collector.
GC_THRESHOLDS = (10_000, 1, 5_000)


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on uvloop when it is installed."""
    try:
        import uvloop
    except ImportError:
        loop_factory = None
    else:
        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(main)


def tune_collector() -> None:
    """Keep the cyclic garbage collector from stalling the event loop: call it
    once the process has built what it keeps for its life (the server once it
    serves, a load generator's worker once its buyers exist).

    Measured in the hold benchmark (bench.holds): with the defaults a serving
    process paused in full collections for up to 187 ms, mostly re-traversing
    long-lived objects (modules, the app, connections) and freeing nothing,
    which set the hold-ack p99. Freezing what exists once serving starts takes
    it out of every later collection, and a larger first generation makes
    young collections rarer; reference counting still frees almost everything.

    A collection pauses for as long as it takes to walk the generations it
    collects, so the young ones are kept small: generation 1 is collected at
    every second young collection, not every 21st, and a young collection
    starts after 10,000 new objects, not 50,000. With (50,000, 20, 100) a room
    of 10,000 subscribers stalled 0.5-0.9 s in one generation-1 collection
    (bench.fanout, the storm into 10,000): every connection opened since the
    last one was still young, ~78 tracked objects each (mostly suspended
    coroutines), and a young object costs ~1 µs to walk in a heap that large.
    Now generation 0 takes up to ~17 ms and generation 1 ~40 ms there. Each
    object is still walked once in each young generation, so the collector's
    total work is about the same, in smaller pieces; the third threshold is
    raised as much as the others were cut, so full collections are considered
    as rarely as before (~100 million allocations apart; CPython also waits
    until the old generation has grown by a quarter). A full collection still
    walks every connection: ~40 ms with 1,000 open, ~200 ms with 4,000
    (docs/performance.md).

    The load generator's workers had CPython's defaults until a worker
    playing 5,000 buyers was seen spending a third of its samples in the
    collector (py-spy --native), 13 full collections of up to 3 s in one run:
    every arriving buyer's connection grew the old generation by the quarter
    that starts another (docs/performance.md, "One core for 5,000 buyers").
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
