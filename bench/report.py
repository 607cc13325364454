"""The table every benchmark prints: each figure beside its ceiling, the ratio, the target.

``passed`` is None for a figure given for information (no target).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Row:
    figure: str
    ours: str
    ceiling: str = ""
    ratio: str = ""
    target: str = ""
    passed: bool | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "info"}[self.passed]


def ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def per_s(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.0f}/s"


def times(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}x"


def kib(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value / 1024:.1f} KiB"


HEADER = ("figure", "ours (median)", "ceiling, same run", "ratio", "target", "")


def text_table(rows: Sequence[Row]) -> str:
    cells = [HEADER, *((r.figure, r.ours, r.ceiling, r.ratio, r.target, r.verdict)
                       for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    lines = []
    for n, cell in enumerate(cells):
        lines.append("  ".join(v.ljust(w) for v, w in zip(cell, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  * {r.figure}: {r.note}" for r in rows if r.note]
    return "\n".join(lines + (["", "notes:", *notes] if notes else []))


def markdown_table(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(HEADER[:-1]) + " | verdict |",
             "| " + " | ".join("---" for _ in HEADER) + " |"]
    for r in rows:
        lines.append(f"| {r.figure} | {r.ours} | {r.ceiling} | {r.ratio} | {r.target} "
                     f"| {r.verdict} |")
    notes = [f"- {r.figure}: {r.note}" for r in rows if r.note]
    return "\n".join(lines + (["", *notes] if notes else []))


def misses(rows: Sequence[Row]) -> list[Row]:
    return [r for r in rows if r.passed is False]


Bench = Callable[[bool], Awaitable[list[Row]]]


def run_main(bench: Bench, doc: str | None) -> None:
    """The command line of one benchmark module: ``[--quick] [--markdown] [--json]``."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke test)")
    parser.add_argument("--markdown", action="store_true", help="print the table as markdown")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    rows = run_loop(bench(args.quick))
    print_rows(rows, markdown=args.markdown, as_json=args.json)
    sys.exit(0)


def run_loop(main: Awaitable[T]) -> T:
    try:
        import uvloop
        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(main)  # type: ignore[arg-type]  # any awaitable will do


def print_rows(rows: Sequence[Row], *, markdown: bool = False, as_json: bool = False) -> None:
    print()
    if as_json:
        print(json.dumps([asdict(r) | {"verdict": r.verdict} for r in rows], indent=2))
    elif markdown:
        print(markdown_table(rows))
    else:
        print(text_table(rows))
    missed = misses(rows)
    if missed:
        print("\nTARGET MISSED: " + "; ".join(f"{r.figure} ({r.ours} vs {r.target})"
                                              for r in missed))


def say(message: str) -> None:
    """Progress, on stderr so that the table on stdout stays clean."""
    print(message, file=sys.stderr, flush=True)
