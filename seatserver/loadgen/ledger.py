"""What every client was told, kept for the audit.

Times are wall-clock milliseconds of the machine running the load generator
(every worker process reads the same clock), so that the audit can order what
clients in different processes saw.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

# A hold is counted as certainly over this long before its deadline as
# computed from our clock, covering the error in how far our clock runs
# ahead of the server's (see Recorder.clock_ahead_ms).
DEADLINE_MARGIN_MS = 1000.0


@dataclass(slots=True)
class Grant:
    """An ok hold ack: ``seats`` were granted to ``client`` between ``sent_ms``
    and ``acked_ms``, with the server's deadline ``expires_at``."""

    client: str
    user: int
    showtime: int
    seats: tuple[str, ...]
    sent_ms: float
    acked_ms: float
    expires_at: int
    # Per seat, when the client certainly still held it last: it released
    # it, started checking it out, left, saw it go, or the run stopped.
    ends: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class Unanswered:
    """A hold whose reply never came (connection lost): it may have been granted."""

    client: str
    user: int
    showtime: int
    seats: tuple[str, ...]
    sent_ms: float


@dataclass(slots=True)
class CheckoutRecord:
    client: str
    user: int
    showtime: int
    seats: tuple[str, ...]
    sent_ms: float
    done_ms: float | None = None
    reference: str | None = None
    hold_deadline_ms: int | None = None
    # booked | declined | walked_away | refused | failed | interrupted
    outcome: str = "interrupted"
    code: str | None = None
    status: str | None = None  # the booking's status as last seen by the buyer


class Ledger:
    """One worker's records: grants, unanswered holds, checkouts."""

    def __init__(self) -> None:
        self.grants: list[Grant] = []
        self.checkouts: list[CheckoutRecord] = []
        self._pending: dict[int, Unanswered] = {}
        self._ids = itertools.count()

    def sent(self, request: Unanswered) -> int:
        key = next(self._ids)
        self._pending[key] = request
        return key

    def answered(self, key: int) -> None:
        self._pending.pop(key, None)

    def unanswered(self) -> list[Unanswered]:
        return list(self._pending.values())

    def close(self, stop_ms: float, clock_ahead_ms: float) -> None:
        """End every interval still open at ``stop_ms``, and none after the
        hold's deadline (on our clock, less a margin)."""
        for grant in self.grants:
            deadline = grant.expires_at + clock_ahead_ms - DEADLINE_MARGIN_MS
            for seat in grant.seats:
                grant.ends[seat] = min(grant.ends.get(seat, stop_ms), deadline)
