"""Proof that no seat was granted to two holders at once, from observations.

Two independent arguments, both from what clients were told:

**Acks against the event stream** (needs Redis). Every ok hold ack names its
seats and deadline; the hold script appended exactly that (``k=hold``, the
seats, ``e=<deadline>``) to the showtime's stream. Replaying the stream from
the state at the start, each hold event is attributed to the client whose ack
it is (or to the client whose checkout or unanswered hold it must be, or to
someone outside the run); a seat granted while the stream says another client
still holds it, or while it is booked, is a double grant. An ack with no
hold event in the stream is a grant nobody else could see: also a failure.

**Acks against the clock** (needs nothing but the clients). A hold was
certainly in force from its ack's receipt until its holder released it,
started checking it out, left, saw it go, or its deadline (less a margin).
A grant to another client whose whole round trip (request sent to ack
received) lies inside such an interval is a double grant. All clients run on
one machine and read one clock, so the intervals compare across workers.
This misses overlaps shorter than a round trip, never reports one that
did not happen.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from seatserver.changefeed.events import Event
from seatserver.loadgen.ledger import CheckoutRecord, Grant, Unanswered
from seatserver.loadgen.streamtail import Initial

MAX_DETAILS = 20
BEFORE = "a holder from before the run"
OUTSIDE = "someone outside the run"


@dataclass
class Findings:
    figures: dict[str, int] = field(default_factory=dict)
    violations: int = 0
    details: list[str] = field(default_factory=list)

    def violate(self, text: str) -> None:
        self.violations += 1
        if len(self.details) < MAX_DETAILS:
            self.details.append(text)


def _is_client(owner: str | None) -> bool:
    return owner is not None and owner not in (BEFORE, OUTSIDE)


class _Replay:
    """One showtime's stream replayed against the clients' records."""

    def __init__(self, showtime: int, initial: Initial, grants: Iterable[Grant],
                 unanswered: Iterable[Unanswered], checkouts: Iterable[CheckoutRecord],
                 findings: Findings) -> None:
        self.showtime = showtime
        self.f = findings
        self.owners: dict[str, str] = dict.fromkeys(initial.held, BEFORE)
        self.booked = set(initial.booked)
        self.acks: dict[tuple[frozenset[str], int], list[Grant]] = defaultdict(list)
        for grant in grants:
            self.acks[(frozenset(grant.seats), grant.expires_at)].append(grant)
        self.unanswered: dict[frozenset[str], list[Unanswered]] = defaultdict(list)
        for request in unanswered:
            self.unanswered[frozenset(request.seats)].append(request)
        self.checkouts = list(checkouts)
        self.matched = self.foreign = 0

    def run(self, events: Iterable[Event]) -> None:
        for event in events:
            if event.kind == "hold":
                self._grant(event)
            elif event.kind == "book":
                for seat in event.seats:
                    self.owners.pop(seat, None)
                    self.booked.add(seat)
            else:  # release, expire, cancel
                for seat in event.seats:
                    self.owners.pop(seat, None)
                    self.booked.discard(seat)

    def _grant(self, event: Event) -> None:
        owner, how = self._attribute(event)
        for seat in event.seats:
            if seat in self.booked:
                self.f.violate(f"showtime {self.showtime} at {event.offset}: {seat} granted "
                               f"to {owner} ({how}) while booked")
            previous = self.owners.get(seat)
            if previous is not None and previous != owner \
                    and (_is_client(previous) or how == "ack"):
                self.f.violate(f"showtime {self.showtime} at {event.offset}: {seat} granted "
                               f"to {owner} ({how}) while {previous} held it")
            self.owners[seat] = owner

    def _attribute(self, event: Event) -> tuple[str, str]:
        seats = frozenset(event.seats)
        acked = self.acks.get((seats, event.deadline or 0))
        if acked:
            self.matched += 1
            return acked.pop(0).client, "ack"
        for record in self.checkouts:
            if record.hold_deadline_ms == event.deadline and seats <= set(record.seats):
                return record.client, "checkout"
        # A checkout whose answer was lost (its instance died) or that was
        # refused extends or puts back its buyer's holds with a deadline we
        # never learn: a hold on seats their own buyer holds and checks out.
        # Before lost acks: a lost answer may have been a refusal, and must
        # not take the blame for the holder's own checkout.
        own = self._checking_out(seats, lambda owner, client: owner == client)
        if own is not None:
            return own, "checkout"
        lost = self.unanswered.get(seats) or self.unanswered.get(frozenset())
        if lost:
            # Empty: a best-available request, whose seats only its ack named.
            return lost.pop(0).client, "hold whose ack was lost"
        # Or on seats that nobody holds, which the buyer was checking out.
        fits = self._checking_out(seats, lambda owner, client: owner in (None, client))
        if fits is not None:
            return fits, "checkout"
        self.foreign += 1
        return OUTSIDE, "no ack"

    def _checking_out(self, seats: frozenset[str],
                      owned: Callable[[str | None, str], bool]) -> str | None:
        """The one client checking out ``seats`` whose owners are ``owned``."""
        fits = {r.client for r in self.checkouts if seats <= set(r.seats)
                and all(owned(self.owners.get(s), r.client) for s in seats)}
        return fits.pop() if len(fits) == 1 else None

    def leftover(self) -> list[Grant]:
        return [g for grants in self.acks.values() for g in grants]


def check_stream(initial: Mapping[int, Initial], events: Mapping[int, Sequence[Event]],
                 grants: Sequence[Grant], unanswered: Sequence[Unanswered],
                 checkouts: Sequence[CheckoutRecord]) -> Findings:
    findings = Findings()
    by_showtime: dict[int, list[Grant]] = defaultdict(list)
    for grant in grants:
        by_showtime[grant.showtime].append(grant)
    matched = foreign = hold_events = 0
    for showtime, start in initial.items():
        stream = events.get(showtime, ())
        replay = _Replay(showtime, start, by_showtime.pop(showtime, []),
                         (u for u in unanswered if u.showtime == showtime),
                         (c for c in checkouts if c.showtime == showtime), findings)
        replay.run(stream)
        hold_events += sum(1 for e in stream if e.kind == "hold")
        matched += replay.matched
        foreign += replay.foreign
        for grant in replay.leftover():
            findings.violate(f"showtime {showtime}: {grant.client} was granted "
                             f"{', '.join(grant.seats)} (deadline {grant.expires_at}) but the "
                             "stream has no such hold")
    for showtime, rest in by_showtime.items():
        findings.violate(f"{len(rest)} grants in showtime {showtime}, whose stream was not read")
    findings.figures = {
        "acks_ok": len(grants), "acks_matched": matched,
        "events": sum(len(s) for s in events.values()), "hold_events": hold_events,
        "holds_outside_the_run": foreign, "violations": findings.violations,
    }
    return findings


@dataclass(slots=True)
class _Interval:
    start: float
    end: float
    owner: str


def check_timeline(grants: Sequence[Grant], checkouts: Sequence[CheckoutRecord]) -> Findings:
    findings = Findings()
    held: dict[tuple[int, str], list[_Interval]] = defaultdict(list)
    asked: dict[tuple[int, str], list[_Interval]] = defaultdict(list)
    for grant in grants:
        for seat in grant.seats:
            end = grant.ends.get(seat, grant.acked_ms)
            if end > grant.acked_ms:
                held[(grant.showtime, seat)].append(_Interval(grant.acked_ms, end, grant.client))
            asked[(grant.showtime, seat)].append(
                _Interval(grant.sent_ms, grant.acked_ms, grant.client))
    for record in checkouts:
        if record.outcome == "booked" and record.done_ms is not None:
            for seat in record.seats:
                held[(record.showtime, seat)].append(
                    _Interval(record.done_ms, math.inf, f"booking {record.reference}"))
    for (showtime, seat), windows in asked.items():
        for window, other in _overlaps(held.get((showtime, seat), []), windows):
            findings.violate(
                f"showtime {showtime}: {seat} granted to {window.owner} (asked at "
                f"{window.start:.0f}, acked at {window.end:.0f} ms) while {other.owner} "
                f"certainly held it ({other.start:.0f} to {other.end:.0f} ms)")
    findings.figures = {"grants": len(grants), "seats_checked": len(asked),
                        "intervals": sum(len(v) for v in held.values()),
                        "violations": findings.violations}
    return findings


def _overlaps(held: list[_Interval], windows: list[_Interval]
              ) -> Iterable[tuple[_Interval, _Interval]]:
    """Each grant window lying inside an interval of another owner."""
    held = sorted(held, key=lambda i: i.start)
    # The two intervals started so far that end last, of different owners.
    top: _Interval | None = None
    second: _Interval | None = None
    i = 0
    for window in sorted(windows, key=lambda w: w.start):
        while i < len(held) and held[i].start < window.start:
            top, second = _keep(top, second, held[i])
            i += 1
        other = top if top is not None and top.owner != window.owner else second
        if other is not None and other.end > window.end:
            yield window, other


def _keep(top: _Interval | None, second: _Interval | None, new: _Interval
          ) -> tuple[_Interval | None, _Interval | None]:
    if top is None:
        return new, second
    if new.owner == top.owner:
        return (new if new.end > top.end else top), second
    if new.end > top.end:
        return new, top
    if second is None or new.end > second.end:
        return top, new
    return top, second
