"""The event loop our long-running processes run on: uvloop where it is
installed (every supported platform but Windows), else asyncio's own.

The server and the load generator's processes share it (the benchmarks'
runner, ``bench.report.run_loop``, picks the same way). The load generator
ran on asyncio's selector loop until py-spy showed a fifth of a worker's time
in that loop's own Python code (``Handle.__init__``, ``call_soon``, the
selector, the socket transport's ``write``) while 5,000 buyers arrived;
uvloop does that part in C (docs/performance.md, "One core for 5,000 buyers").
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


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
