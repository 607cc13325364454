"""Live progress on stderr: a rich panel on a terminal, a line every few
seconds otherwise (CI logs, pipes)."""

from __future__ import annotations

import time
from collections import deque

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from seatserver.loadgen.hostload import HostLoad
from seatserver.loadgen.stats import Aggregate, error_codes

PLAIN_EVERY_S = 5.0


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _codes(codes: dict[str, int]) -> str:
    return ", ".join(f"{code} {n}" for code, n in sorted(codes.items(), key=lambda x: -x[1]))


def _unavailable(totals: dict[str, int]) -> int:
    """Answers that said a store is down (Redis, PostgreSQL, the payment
    provider): refusals, failures and retries alike."""
    return sum(n for codes in error_codes(totals).values()
               for code, n in codes.items() if code.endswith("unavailable")
               and code != "seats_unavailable")


class Progress:
    def __init__(self, target: str, clients: int, duration_s: float, *, enabled: bool,
                 host: HostLoad | None = None) -> None:
        self.console = Console(stderr=True)
        self.host = host
        self._warned = 0  # saturation episodes already announced
        self.target = target
        self.clients = clients
        self.duration_s = duration_s
        self.enabled = enabled
        self._live: Live | None = None
        self._rates: deque[tuple[float, int]] = deque(maxlen=40)
        self._printed = 0.0

    def __enter__(self) -> Progress:
        if self.enabled and self.console.is_terminal:
            self._live = Live(console=self.console, refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def show(self, agg: Aggregate, elapsed: float, phase: str) -> None:
        self._warn()
        if not self.enabled:
            return
        now = time.monotonic()
        self._rates.append((now, agg.totals.get("hold.ok", 0)))
        if self._live is not None:
            self._live.update(self._panel(agg, elapsed, phase))
        elif now - self._printed >= PLAIN_EVERY_S:
            self._printed = now
            self.console.print(self._line(agg, elapsed, phase), highlight=False,
                               soft_wrap=True)

    def _warn(self) -> None:
        """A saturated host is said at once, and even with --quiet: every
        figure from then on is suspect."""
        if self.host is None or len(self.host.episodes) <= self._warned:
            return
        self._warned = len(self.host.episodes)
        self.console.print(f"WARNING: {self.host.warning}", style="bold yellow",
                           highlight=False, soft_wrap=True)

    def _saturation(self) -> str:
        if self.host is None or not self.host.seconds:
            return ""
        last = self.host.seconds[-1]
        flag = "  CLIENT SATURATED" if self.host.saturated_now else ""
        return f"  loadgen cpu {last['share']:.0%} of {self.host.cores:g} cores{flag}"

    def _rate(self) -> float:
        recent = [(t, n) for t, n in self._rates if t >= self._rates[-1][0] - 2.0]
        (t0, n0), (t1, n1) = recent[0], recent[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

    def _line(self, agg: Aggregate, elapsed: float, phase: str) -> str:
        t = agg.totals
        return (f"[loadgen {phase} {elapsed:5.1f}s] connected {agg.connected_now}/"
                f"{self.clients}  holds {t.get('hold.ok', 0)} ({self._rate():.0f}/s)  "
                f"refused {sum(error_codes(t).get('hold', {}).values())}  "
                f"hold p50/p99 {_ms(agg.percentile_ms('hold', 50))}/"
                f"{_ms(agg.percentile_ms('hold', 99))}  fan-out p99 "
                f"{_ms(agg.percentile_ms('fanout', 99))}  booked "
                f"{t.get('checkout.booked', 0)}  reconnects {t.get('reconnect', 0)}  "
                f"unavailable {_unavailable(t)}  waiting {self._waiting(t)}"
                f"{self._saturation()}")

    @staticmethod
    def _waiting(t: dict[str, int]) -> int:
        """Buyers in a waiting room now: joined less admitted and gone."""
        joined = t.get("queue.joined.waiting", 0) + t.get("queue.joined.before_sale", 0)
        return max(0, joined - t.get("queue.admitted", 0) - t.get("queue.abandoned", 0))

    def _panel(self, agg: Aggregate, elapsed: float, phase: str) -> Group:
        t = agg.totals
        codes = error_codes(t)
        head = Text.assemble(("seatserver loadgen ", "bold"), f"→ {self.target}   ",
                             (f"{elapsed:.1f} s", "bold"), f" of {self.duration_s:g} s   ",
                             (phase, "bold yellow" if phase != "running" else "bold green"))
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        table.add_row("clients", f"{agg.connected_now} connected of {self.clients}, "
                                 f"{t.get('reconnect', 0)} reconnects, "
                                 f"{_unavailable(t)} answers unavailable, "
                                 f"{t.get('visit', 0)} visits")
        table.add_row("holds", f"{t.get('hold.ok', 0)} granted ({self._rate():.0f}/s), "
                               f"{sum(codes.get('hold', {}).values())} refused")
        table.add_row("refusals", _codes(codes.get("hold", {})) or "none")
        for metric, label in (("hold", "hold round trip"), ("fanout", "fan-out delay"),
                              ("checkout", "checkout")):
            table.add_row(label, f"p50 {_ms(agg.percentile_ms(metric, 50))}   "
                                 f"p99 {_ms(agg.percentile_ms(metric, 99))}   "
                                 f"({agg.histograms[metric].get_total_count()} samples)")
        table.add_row("checkouts", f"{t.get('checkout.booked', 0)} booked, "
                                   f"{t.get('checkout.declined', 0)} declined, "
                                   f"{t.get('checkout.walked_away', 0)} walked away")
        table.add_row("waiting room", f"{self._waiting(t)} waiting, "
                                      f"{t.get('queue.admitted', 0)} admitted, "
                                      f"{t.get('queue.abandoned', 0)} gave up")
        if self._saturation():
            table.add_row("load generator", self._saturation().strip())
        other = {k: v for k, v in codes.items() if k != "hold"}
        table.add_row("errors", "; ".join(f"{k}: {_codes(v)}" for k, v in other.items())
                      or "none")
        return Group(head, table)
