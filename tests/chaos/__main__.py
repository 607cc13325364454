"""``make chaos``: the chaos scenarios, longer and with more clients than in
the test suite, on embedded Redis and PostgreSQL of their own; a short summary
with each audit's verdict; exit status 1 when any scenario failed.

    python -m tests.chaos [--duration S] [--clients N] [--down S] [--workers N]
                          [--reports DIR] [scenario ...]

Defaults come from ``CHAOS_DURATION``, ``CHAOS_CLIENTS``, ``CHAOS_DOWN`` and
``CHAOS_WORKERS`` when set (``make chaos CHAOS_DURATION=120``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from seatserver.embedded import EmbeddedServices
from tests.chaos.scenarios import SCENARIOS, Outcome, Plan, Stores


def _options(argv: list[str]) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(prog="make chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", metavar="scenario",
                        help=f"any of {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--duration", type=float, default=float(env.get("CHAOS_DURATION", 30)),
                        help="seconds of load per scenario (30)")
    parser.add_argument("--clients", type=int, default=int(env.get("CHAOS_CLIENTS", 150)),
                        help="simulated buyers (150)")
    parser.add_argument("--down", type=float, default=float(env.get("CHAOS_DOWN", 5)),
                        help="seconds the broken part stays down (5)")
    parser.add_argument("--workers", type=int, default=int(env.get("CHAOS_WORKERS", 2)),
                        help="load generator processes (2)")
    parser.add_argument("--reports", type=Path, default=Path("chaos-reports"),
                        help="where each run's loadgen report goes (chaos-reports/)")
    options = parser.parse_args(argv)
    unknown = [name for name in options.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"no scenario {', '.join(unknown)}: choose from {', '.join(SCENARIOS)}")
    if options.duration < options.down + 6:
        parser.error("--duration must leave at least 6 s beside --down")
    return options


async def _run(names: list[str], plan: Plan, stores: Stores, out: Console) -> list[Outcome]:
    outcomes = []
    for name in names:
        out.print(f"[bold]{name}[/]: {plan.clients} clients, {plan.duration_s:g} s, "
                  f"down {plan.down_s:g} s ...")
        started = time.monotonic()
        outcome = await SCENARIOS[name](stores, plan)
        outcome.figures["scenario_s"] = round(time.monotonic() - started, 1)
        outcomes.append(outcome)
    return outcomes


def _summary(outcomes: list[Outcome], out: Console) -> None:
    table = Table(title="chaos runs", title_justify="left")
    for column in ("scenario", "audit", "result", "figures"):
        table.add_column(column)
    for o in outcomes:
        failed = [name for name, status in o.audit.items() if status != "passed"]
        audit = "[green]passed[/]" if o.audit_passed else f"[bold red]FAILED[/] {failed}"
        result = "[green]PASSED[/]" if o.passed else "[bold red]FAILED[/]"
        figures = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in o.figures.items())
        table.add_row(o.name, audit, result,
                      escape(figures + "".join(f"\n  {p}" for p in o.problems)
                             + f"\n  report {o.report}"))
    out.print(table)


def main(argv: list[str]) -> int:
    options = _options(argv)
    names = options.scenarios or list(SCENARIOS)
    plan = Plan(report_dir=options.reports.resolve(), clients=options.clients,
                duration_s=options.duration, down_s=options.down, workers=options.workers)
    out = Console(highlight=False)
    if not out.is_terminal:
        out = Console(highlight=False, width=120)  # logs and pipes: no cramped table
    with tempfile.TemporaryDirectory(prefix="seatserver-chaos-") as folder:
        root = Path(folder)
        root.chmod(0o755)  # the embedded PostgreSQL's own user works in there
        # Started on the main thread: the servers die with the thread that started them.
        with EmbeddedServices(root / "services") as services:
            stores = Stores(services.redis_url, services.database_url, root)
            outcomes = asyncio.run(_run(names, plan, stores, out))
    _summary(outcomes, out)
    for outcome in outcomes:
        if not outcome.passed:
            out.print(f"[bold red]{outcome.name}[/]: the load generator said:")
            out.print(escape(outcome.output[-3000:]))
    passed = all(o.passed for o in outcomes)
    out.print("chaos: " + ("[bold green]PASSED[/]" if passed else "[bold red]FAILED[/]"))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
