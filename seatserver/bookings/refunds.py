"""The cancellation refund policy: how much of a booking comes back, by when.

    more than `full_before` before the start   full refund
    until `cutoff` before the start            `partial_percent` % (rounded down)
    after that                                 no cancellation

Each boundary belongs to the later, smaller band (``now >= start - full_before``
is already partial), so a cancellation at the exact second gets what the
policy says after it, never more. Partial amounts round down to the minor
unit, so a refund is never more than the stated percentage. A cut-off
earlier than ``full_before`` leaves no partial band: full until the cut-off.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class RefundPolicy:
    full_before: timedelta
    cutoff: timedelta
    partial_percent: int

    def __post_init__(self) -> None:
        if not 0 <= self.partial_percent <= 100:
            raise ValueError("partial_percent must be between 0 and 100")

    def refund(self, total: int, *, starts_at: datetime, now: datetime) -> int | None:
        """Minor units refunded if cancelled at ``now``; None when it is too late."""
        if now >= starts_at - self.cutoff:
            return None
        if now >= starts_at - self.full_before:
            return total * self.partial_percent // 100
        return total
