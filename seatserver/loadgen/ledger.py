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
    # In a showtime with a waiting room: whether the client had been told it
    # was admitted (an ``admitted`` frame) before it sent this hold.
    gated: bool = False
    admitted: bool = False


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


@dataclass(slots=True)
class Wait:
    """One buyer's stay in a showtime's waiting room, as it saw it.

    ``joined_ms`` is when the server answered its ``queue`` (or ``subscribe``)
    with the state it joined in (``before_sale``: the pre-queue shuffled at
    the opening; ``waiting``: the queue in arrival order; ``admitted``).
    ``expires_at`` is the admission's end as the ``admitted`` frame first
    told it (server ms): the admission's time plus the showtime's admission
    lifetime, the same for everyone, so it orders admissions exactly (to the
    ms) where receipt times would add the delivery's jitter; ``admitted_ms``
    is our clock's receipt of that frame. A wait with neither was abandoned or cut by the
    end of the run (``outcome``)."""

    client: str
    user: int
    showtime: int
    sent_ms: float  # the join sent (the arrival)
    joined_ms: float | None = None
    state: str = ""
    admitted_ms: float | None = None
    expires_at: int | None = None  # the admission's end as first told (server ms)
    # admitted | abandoned | still_waiting
    outcome: str = "still_waiting"
    # False when a hold passed the gate before the ``admitted`` frame came
    # (the admission was there, its news late): the hold renewed the
    # admission, so ``expires_at`` no longer dates it.
    exact: bool = True


@dataclass(slots=True)
class NotAdmitted:
    """A hold refused ``not_admitted`` while the client believed it admitted
    (its admission's end as first told, ``admission_ends``, not yet come)."""

    client: str
    user: int
    showtime: int
    sent_ms: float
    acked_ms: float
    admission_ends: int  # server ms


class Ledger:
    """One worker's records: grants, unanswered holds, checkouts."""

    def __init__(self) -> None:
        self.grants: list[Grant] = []
        self.checkouts: list[CheckoutRecord] = []
        self.waits: list[Wait] = []
        self.not_admitted: list[NotAdmitted] = []
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
