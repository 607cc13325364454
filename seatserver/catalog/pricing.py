"""The one pricing function: what each seat type of a showtime costs.

A showtime's price for a seat type is, in this order:
  1. its own override (a row of `showtime_prices`), if it has one;
  2. else its theater's price rule for that seat type and the kind of day the
     show starts on (a row of `price_rules`), if the rule is in the
     showtime's currency;
  3. else nothing: that seat type is not on sale for the showtime.

The kind of day is judged on the calendar of the theater's time zone, not of
UTC or of the server: a show at 23:30 on a Friday in Berlin is a weekday show
even though it is Saturday already in Tokyo, and one at 00:30 on Saturday is a
weekend show. The seat map, the listings and checkout all price through
``price_list``, so what a buyer is shown is what a buyer pays.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from seatserver.catalog.models import Price

DayKind = Literal["weekday", "weekend"]
# date.weekday(): Monday is 0.
WEEKEND_DAYS = frozenset({5, 6})


@dataclass(frozen=True, slots=True)
class PriceRule:
    """A theater's price of one seat type on one kind of day."""

    id: int
    theater_id: int
    seat_type: str
    day_kind: DayKind
    amount: int
    currency: str


def day_kind(starts_at: datetime, zone: ZoneInfo) -> DayKind:
    """Weekday or weekend, on the local calendar where the show plays."""
    if starts_at.tzinfo is None:
        raise ValueError("starts_at must be timezone-aware")
    local = starts_at.astimezone(zone)
    return "weekend" if local.weekday() in WEEKEND_DAYS else "weekday"


def price_list(*, starts_at: datetime, zone: ZoneInfo, currency: str,
               rules: Iterable[PriceRule], overrides: Mapping[str, int],
               type_order: Sequence[str]) -> dict[str, Price]:
    """Seat type -> price for one showtime, cheapest type first (``type_order``).

    ``rules`` are the theater's; those of another currency never apply (a
    showtime is sold in one currency). A seat type missing from the result is
    not on sale.
    """
    kind = day_kind(starts_at, zone)
    amounts = {r.seat_type: r.amount for r in rules
               if r.day_kind == kind and r.currency == currency}
    amounts.update(overrides)
    ordered = [t for t in type_order if t in amounts]
    ordered += sorted(t for t in amounts if t not in type_order)
    return {t: Price(amounts[t], currency) for t in ordered}
