"""The waiting room as buyers see it: what a guest session knows of its
admissions, and, after the run, how fair the admissions were and whether
anybody held a seat without one.

A buyer learns that a showtime has a waiting room from the state its
``queue`` or ``subscribe`` is answered with (docs/protocol.md, "Waiting
room"), and that it may hold seats from an ``admitted`` frame. Each stay in
a room is one ``Wait`` in the ledger; the audit reads them with the holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from seatserver.loadgen.ledger import DEADLINE_MARGIN_MS, Grant, Ledger, NotAdmitted, Wait
from seatserver.loadgen.ownership import Findings
from seatserver.loadgen.stats import Recorder

WAITING = ("before_sale", "waiting")
# An ``admitted`` frame goes out within about a second of the admission: a
# hold granted to a buyer who had not been told yet is its own only if the
# frame follows within this long (a hold cannot be granted before the
# admission it needs).
ADMITTED_NEWS_MS = 3000.0
# |rho| of a fair shuffle of n buyers is about 1/sqrt(n - 1); past this many
# of those the order is not a uniform shuffle (a fair one gets there about
# once in 15,000 runs).
RHO_SIGMAS = 4.0
MIN_SHUFFLED = 20  # fewer pre-opening buyers say nothing about the shuffle


def now_ms() -> float:
    return time.time() * 1000


class Admissions:
    """One guest session's waiting rooms: where it has a room to wait in, the
    admissions it has been told of, and its open waits."""

    def __init__(self, client: str, ledger: Ledger, recorder: Recorder) -> None:
        self.client = client
        self.user = 0
        self._ledger = ledger
        self._recorder = recorder
        self.gated: set[int] = set()  # showtimes answered with a waiting room
        self.ends: dict[int, int] = {}  # showtime -> the admission's end as told
        self.open: dict[int, Wait] = {}
        self._news: dict[int, asyncio.Event] = defaultdict(asyncio.Event)

    def new_session(self, user: int) -> None:
        """A new guest: it starts at the back of every room."""
        self.end_waits("abandoned")
        self.user = user
        self.gated.clear()
        self.ends.clear()

    def joining(self, showtime: int) -> None:
        """About to send ``queue`` or ``subscribe``: a wait starts now, unless
        one is open already (a reconnect keeps its place)."""
        if showtime not in self.open and showtime not in self.ends:
            self.open[showtime] = Wait(self.client, self.user, showtime, now_ms())

    def joined(self, showtime: int, state: str | None) -> None:
        """The answer's ``queue`` state (None or ``open``: no waiting room)."""
        wait = self.open.get(showtime)
        if state in (None, "open"):
            self.gated.discard(showtime)
            if wait is not None and wait.joined_ms is None:
                del self.open[showtime]
            return
        self.gated.add(showtime)
        self._recorder.count(f"queue.joined.{state}")
        if wait is None or wait.joined_ms is not None:
            return  # in already, or back after a reconnect: the wait goes on
        wait.joined_ms, wait.state = now_ms(), state
        if state == "admitted":
            del self.open[showtime]  # an admission from before: no wait to speak of
            return
        self._ledger.waits.append(wait)
        if showtime in self.ends:
            self._admit(showtime, wait, self.ends[showtime])  # told before the answer

    def notice(self, frame: dict[str, Any]) -> None:
        """A ``queue`` or ``admitted`` frame."""
        if frame.get("t") != "admitted":
            return
        showtime, ends = int(frame["showtime"]), int(frame["expires_at"])
        self.gated.add(showtime)
        self.ends[showtime] = max(ends, self.ends.get(showtime, 0))
        wait = self.open.get(showtime)
        if wait is not None and wait.joined_ms is not None:
            self._admit(showtime, wait, ends)
        self._news[showtime].set()

    def _admit(self, showtime: int, wait: Wait, ends: int) -> None:
        wait.admitted_ms, wait.expires_at, wait.outcome = now_ms(), ends, "admitted"
        self.open.pop(showtime, None)
        self._recorder.count("queue.admitted")
        self._recorder.latency("queue", wait.admitted_ms - wait.sent_ms)
        self._news[showtime].set()

    def renewed_early(self, showtime: int) -> None:
        """A hold passed the gate before we were told of the admission (which
        therefore existed; the hold script renews an admission whatever it
        then answers): its end, when told, is the hold's, not the
        admission's."""
        wait = self.open.get(showtime)
        if wait is not None:
            wait.exact = False

    def may_hold(self, showtime: int) -> bool:
        return showtime not in self.gated or showtime in self.ends

    def waiting(self, showtime: int) -> bool:
        return showtime in self.gated and showtime not in self.ends

    def refused(self, showtime: int, sent_ms: float) -> None:
        """A hold refused ``not_admitted``: recorded if we were told we were
        in and the admission's end had not come; then we queue again."""
        ends = self.ends.pop(showtime, None)
        self.gated.add(showtime)
        if ends is not None:
            self._ledger.not_admitted.append(
                NotAdmitted(self.client, self.user, showtime, sent_ms, now_ms(), ends))

    async def admitted(self, showtime: int, within_s: float) -> bool:
        """Wait up to ``within_s`` for the admission; whether it came."""
        if self.may_hold(showtime):
            return True
        news = self._news[showtime]
        news.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(news.wait(), within_s)
        return self.may_hold(showtime)

    def give_up(self, showtime: int) -> None:
        """The buyer stops waiting for this showtime (closes the tab)."""
        wait = self.open.pop(showtime, None)
        if wait is not None and wait.joined_ms is not None:
            wait.outcome = "abandoned"
            self._recorder.count("queue.abandoned")

    def end_waits(self, outcome: str) -> None:
        """The buyer gives up its open waits (``abandoned``) or the run
        stopped (``still_waiting``)."""
        for showtime, wait in list(self.open.items()):
            if wait.joined_ms is not None:
                wait.outcome = outcome
                self._recorder.count(f"queue.{outcome}")
            del self.open[showtime]


# The audit and the report's figures.

def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rank correlation, ties given their average rank."""
    n = len(xs)
    if n < 3:
        return None
    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / n, sum(ry) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if not sxx or not syy:
        return None
    return sxy / math.sqrt(sxx * syy)


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing their average."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def fifo_violations(waits: Sequence[Wait]) -> list[tuple[Wait, Wait]]:
    """Later arrivals (joined ``waiting``) admitted ahead of someone who had
    certainly joined before them (answered before they asked): each such
    buyer once, with one buyer it overtook. Admissions are ordered by the
    server's clock (``expires_at``); the same ms (one admitting step) is no
    order."""
    done = [w for w in waits if w.expires_at is not None and w.joined_ms is not None
            and w.exact]
    by_join = sorted(done, key=lambda w: w.joined_ms or 0.0)
    out: list[tuple[Wait, Wait]] = []
    latest: Wait | None = None  # admitted last among those joined so far
    i = 0
    for later in sorted(done, key=lambda w: w.sent_ms):
        while i < len(by_join) and (by_join[i].joined_ms or 0.0) < later.sent_ms:
            if latest is None or (by_join[i].expires_at or 0) > (latest.expires_at or 0):
                latest = by_join[i]
            i += 1
        if later.state == "waiting" and latest is not None \
                and (latest.expires_at or 0) > (later.expires_at or 0):
            out.append((later, latest))
    return out


def fairness(waits: Iterable[Wait]) -> list[dict[str, Any]]:
    """Per showtime: the queue's figures (docs/loadgen.md, "The on-sale scenario")."""
    rooms: dict[int, list[Wait]] = defaultdict(list)
    for wait in waits:
        rooms[wait.showtime].append(wait)
    out = []
    for showtime, room in sorted(rooms.items()):
        pre = [w for w in room
               if w.state == "before_sale" and w.expires_at is not None and w.exact]
        rho = spearman([w.sent_ms for w in pre], [float(w.expires_at or 0) for w in pre])
        bound = RHO_SIGMAS / math.sqrt(len(pre) - 1) if len(pre) >= MIN_SHUFFLED else None
        out.append({
            "showtime": showtime,
            "waits": len(room),
            "before_sale": sum(1 for w in room if w.state == "before_sale"),
            "later_arrivals": sum(1 for w in room if w.state == "waiting"),
            "admitted": sum(1 for w in room if w.outcome == "admitted"),
            "abandoned": sum(1 for w in room if w.outcome == "abandoned"),
            "still_waiting": sum(1 for w in room if w.outcome == "still_waiting"),
            "shuffled_admitted": len(pre),
            # Admitted, but a hold came before the news: no exact admission time.
            "undated": sum(1 for w in room if w.outcome == "admitted" and not w.exact),
            "spearman_rho": None if rho is None else round(rho, 4),
            "rho_bound": None if bound is None else round(bound, 4),
            "fifo_violations": len(fifo_violations(room)),
        })
    return out


def check_admissions(grants: Iterable[Grant], refusals: Iterable[NotAdmitted],
                     waits: Iterable[Wait], clock_ahead_ms: float) -> Findings:
    """Nobody held a seat without an admission, and nobody admitted was
    refused for want of one.

    A grant in a showtime with a waiting room to a buyer who had not been told
    it was admitted is a violation unless the ``admitted`` frame follows
    within ``ADMITTED_NEWS_MS`` (the admission came first, its news late). A
    ``not_admitted`` refusal is a violation when its whole round trip lies
    before the admission's end as first told (on our clock, less a margin:
    every hold only moves that end later)."""
    f = Findings()
    told: dict[tuple[int, int], list[float]] = defaultdict(list)
    for wait in waits:
        if wait.admitted_ms is not None:
            told[(wait.user, wait.showtime)].append(wait.admitted_ms)
    gated = checked = 0
    for grant in grants:
        if not grant.gated:
            continue
        gated += 1
        if grant.admitted:
            continue
        checked += 1
        news = told.get((grant.user, grant.showtime), [])
        if not any(at <= grant.acked_ms + ADMITTED_NEWS_MS for at in news):
            f.violate(f"showtime {grant.showtime}: {grant.client} was granted "
                      f"{', '.join(grant.seats)} without an admission")
    refused = 0
    for r in refusals:
        refused += 1
        ends_here = r.admission_ends + clock_ahead_ms - DEADLINE_MARGIN_MS
        if r.acked_ms < ends_here:
            f.violate(f"showtime {r.showtime}: {r.client} was refused not_admitted "
                      f"{(ends_here - r.acked_ms) / 1000:.1f} s before its admission "
                      "could have ended")
    f.figures = {"grants_in_waiting_rooms": gated, "grants_before_admitted_news": checked,
                 "refused_while_admitted": refused, "violations": f.violations}
    return f
