"""The audit a run cannot pass without: what each check proves, and its figures.

A check is ``passed``, ``failed``, ``not run`` (it needs Redis or PostgreSQL
and was not given them: the audit fails) or ``skipped`` (the same, with
``--no-store-audit``: the audit may still pass).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import asyncpg

from seatserver.loadgen import ownership, queueing, storecheck
from seatserver.loadgen.finalview import MAX_DETAILS
from seatserver.loadgen.ledger import CheckoutRecord, Grant, NotAdmitted, Unanswered, Wait
from seatserver.loadgen.ownership import Findings
from seatserver.loadgen.streamtail import StreamTail
from seatserver.loadgen.worker import WorkerResult
from seatserver.redis_client import RedisClient

PASSED, FAILED, NOT_RUN, SKIPPED = "passed", "failed", "not run", "skipped"


@dataclass
class Check:
    name: str
    title: str
    status: str
    figures: dict[str, Any] = field(default_factory=dict)
    details: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, name: str, title: str, findings: Findings) -> Check:
        return cls(name, title, FAILED if findings.violations else PASSED,
                   findings.figures, findings.details)


@dataclass
class Audit:
    checks: list[Check]

    @property
    def passed(self) -> bool:
        return all(c.status in (PASSED, SKIPPED) for c in self.checks)


@dataclass
class Evidence:
    """Everything the audit looks at, gathered from the workers and the stores."""

    results: list[WorkerResult]
    missing_workers: list[int]
    holds_ok: int
    showtimes: list[int]
    tail: StreamTail | None
    redis: RedisClient | None
    pool: asyncpg.Pool | None
    store_audit: bool

    @property
    def grants(self) -> list[Grant]:
        return [g for r in self.results for g in r.grants]

    @property
    def unanswered(self) -> list[Unanswered]:
        return [u for r in self.results for u in r.unanswered]

    @property
    def checkouts(self) -> list[CheckoutRecord]:
        return [c for r in self.results for c in r.checkouts]

    @property
    def waits(self) -> list[Wait]:
        return [w for r in self.results for w in r.waits]

    @property
    def not_admitted(self) -> list[NotAdmitted]:
        return [n for r in self.results for n in r.not_admitted]

    @property
    def clock_ahead_ms(self) -> float:
        """How far our clock may run ahead of the server's: the largest bound
        any worker saw (each one's is the smallest delay it measured)."""
        return max((r.clock_ahead_ms for r in self.results), default=0.0)


async def run_audit(ev: Evidence) -> Audit:
    checks = [_exercised(ev), _stream(ev), _timeline(ev), _views(ev), _protocol(ev),
              _admissions(ev)]
    if ev.waits:
        checks.append(_fairness(ev))
    checks += await _stores(ev)
    return Audit(checks)


def _exercised(ev: Evidence) -> Check:
    arrived = sum(r.arrived for r in ev.results)
    never = sum(r.never_connected for r in ev.results)
    details = [f"worker {w} did not report (crashed or killed): its clients are not audited"
               for w in ev.missing_workers]
    if not ev.holds_ok:
        details.append("no hold was granted: there is nothing to audit")
    return Check("exercised", "the run exercised the server, and every worker reported",
                 FAILED if details else PASSED,
                 {"workers_reported": len(ev.results), "clients_arrived": arrived,
                  "clients_never_connected": never, "holds_granted": ev.holds_ok},
                 details)


def _stream(ev: Evidence) -> Check:
    title = "no seat granted to two holders (acks against the Redis event stream)"
    if ev.tail is None:
        return _absent("one_holder_stream", title, "needs --redis-url", ev)
    tails = ev.tail.tails
    gaps = [f"showtime {s}: {g}" for s, t in tails.items() for g in t.gaps]
    findings = ownership.check_stream(
        {s: t.initial for s, t in tails.items()}, {s: t.events for s, t in tails.items()},
        ev.grants, ev.unanswered, ev.checkouts)
    check = Check.of("one_holder_stream", title, findings)
    if gaps:
        check.status = FAILED
        check.details = [*gaps, "(the stream was not read in full: nothing is proven)",
                         *check.details]
    check.figures["stream_read_errors"] = ev.tail.errors
    return check


def _timeline(ev: Evidence) -> Check:
    return Check.of("one_holder_clock",
                    "no seat granted to two holders (acks against the clients' clock)",
                    ownership.check_timeline(ev.grants, ev.checkouts))


def _admissions(ev: Evidence) -> Check:
    return Check.of("admissions", "nobody held a seat without an admission, nor was refused "
                    "one while admitted", queueing.check_admissions(
                        ev.grants, ev.not_admitted, ev.waits, ev.clock_ahead_ms))


def _fairness(ev: Evidence) -> Check:
    """The waiting room's order: a uniform shuffle of the buyers who came
    before the opening, then first come first served."""
    rooms = queueing.fairness(ev.waits)
    details = []
    for room in rooms:
        st = room["showtime"]
        if room["fifo_violations"]:
            details.append(f"showtime {st}: {room['fifo_violations']} later arrivals were "
                           "admitted ahead of someone who had joined before them")
            for later, earlier in queueing.fifo_violations(
                    [w for w in ev.waits if w.showtime == st])[:MAX_DETAILS]:
                details.append(
                    f"{later.client} (asked {later.sent_ms:.0f}, admitted "
                    f"{later.expires_at}) before {earlier.client} ({earlier.state}, joined "
                    f"{earlier.joined_ms:.0f}, admitted {earlier.expires_at})")
        rho, bound = room["spearman_rho"], room["rho_bound"]
        if rho is not None and bound is not None and abs(rho) > bound:
            details.append(f"showtime {st}: admission order follows arrival order before "
                           f"the opening (Spearman rho {rho}, a fair shuffle of "
                           f"{room['shuffled_admitted']} stays within ±{bound})")
    figures: dict[str, Any] = {
        "waits": sum(r["waits"] for r in rooms),
        "admitted": sum(r["admitted"] for r in rooms),
        "fifo_violations": sum(r["fifo_violations"] for r in rooms)}
    for room in rooms:
        figures[f"rho_{room['showtime']}"] = room["spearman_rho"]
    return Check("queue_fairness", "the waiting room admitted the pre-queue in a random "
                 "order, later arrivals first come first served",
                 FAILED if details else PASSED, figures, details)


def _views(ev: Evidence) -> Check:
    compared = sum(r.views.compared for r in ev.results)
    kiosks = sum(r.views.kiosks_compared for r in ev.results)
    mismatched = sum(r.views.mismatched for r in ev.results)
    unsettled = sum(r.views.unsettled for r in ev.results)
    details = [d for r in ev.results for d in r.views.details][:MAX_DETAILS]
    if unsettled:
        details.append(f"{unsettled} views could not be compared: the room never stood "
                       "still at one offset with its fresh snapshot")
    return Check("final_views", "every client's final view equals a fresh snapshot",
                 FAILED if mismatched or unsettled else PASSED,
                 {"views_equal": compared, "kiosks_equal": kiosks, "mismatched": mismatched,
                  "unsettled": unsettled,
                  "not_subscribed_at_the_end": sum(r.views.not_subscribed for r in ev.results)},
                 details)


def _protocol(ev: Evidence) -> Check:
    violations = [v for r in ev.results for v in r.violations]
    errors = [e for r in ev.results for e in r.error_frames]
    return Check("protocol", "updates arrived in offset order, none repeated, and no "
                 "message of ours was refused as malformed",
                 FAILED if violations or errors else PASSED,
                 {"order_violations": len(violations), "error_frames": len(errors)},
                 [*violations, *errors][:MAX_DETAILS])


async def _stores(ev: Evidence) -> list[Check]:
    pool, redis, showtimes = ev.pool, ev.redis, ev.showtimes
    booked = one = paid = told = None
    if pool is not None:
        if redis is not None:
            booked = partial(storecheck.booked_everywhere, pool, redis, showtimes)
        one = partial(storecheck.one_active_sale, pool, showtimes)
        paid = partial(storecheck.payments_booked, pool, showtimes)
        told = partial(storecheck.buyers_told_truth, pool, ev.checkouts)
    specs: list[tuple[str, str, str, Callable[[], Awaitable[Findings]] | None]] = [
        ("booked_pg_redis", "every booked seat in PostgreSQL is booked in Redis, and "
         "vice versa", "needs --database-url and --redis-url", booked),
        ("one_active_sale", "no seat is in two active bookings", "needs --database-url", one),
        ("payments_booked", "every captured payment has a booked booking (and every booked "
         "booking a captured payment)", "needs --database-url", paid),
        ("buyers_told_truth", "every booking is in PostgreSQL as its buyer was told",
         "needs --database-url", told),
    ]
    checks = []
    for name, title, needs, run in specs:
        if run is None:
            checks.append(_absent(name, title, needs, ev))
        else:
            checks.append(Check.of(name, title, await storecheck.settled(run)))
    return checks


def _absent(name: str, title: str, needs: str, ev: Evidence) -> Check:
    if ev.store_audit:
        return Check(name, title, NOT_RUN, {},
                     [f"{needs} (or --no-store-audit to run without this check)"])
    return Check(name, title, SKIPPED, {}, [f"--no-store-audit: {needs}"])


def describe(checks: Sequence[Check]) -> list[dict[str, Any]]:
    return [{"name": c.name, "title": c.title, "status": c.status, "figures": c.figures,
             "details": c.details} for c in checks]
