"""Counter: the box office sells seats, free or blocked, paid in cash or by a
card presented at the counter.

The same arbiters as online checkout: the free seats are held first in
Redis (so a seat an online buyer holds is refused, never snatched from
them), then the booking is written in one PostgreSQL transaction where the
partial unique index forbids a second live sale of a seat, then Redis is
told (``book``, which also ends the blocks of blocked seats sold). Blocked
seats need no hold: no one can hold them online.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from seatserver.audit import Actor
from seatserver.bookings.store import SeatLine
from seatserver.catalog.store import CatalogStore
from seatserver.errors import SalesClosed, SeatsUnavailable, UnknownSeat, UnknownShowtime
from seatserver.holds import HoldEngine
from seatserver.house.store import CounterSale, HouseStore

log = logging.getLogger(__name__)

# How long the counter's hold on free seats lasts while the sale is written.
COUNTER_HOLD_MS = 60_000


class Counter:
    def __init__(self, store: HouseStore, engine: HoldEngine, catalog: CatalogStore) -> None:
        self._store = store
        self._engine = engine
        self._catalog = catalog

    @property
    def max_seats(self) -> int:
        return self._engine.max_seats

    async def sell(self, showtime: int, seats: Sequence[str], *, method: str,
                   email: str | None, staff_id: int, actor: Actor) -> CounterSale:
        """Sell ``seats`` at the counter until the show starts; all or none."""
        lines, currency = await self._priced(showtime, seats)
        blocked = set((await self._engine.snapshot(showtime)).blocked) & set(seats)
        free = [s for s in seats if s not in blocked]
        holder = str(staff_id)
        if free:
            # A hold of one's own time: not gated by the waiting room, no
            # seating rules (the staff member chose with the buyer).
            await self._engine.hold(showtime, holder, free, ttl_ms=COUNTER_HOLD_MS)
        try:
            sale = await self._store.sell(
                showtime=showtime, currency=currency, lines=lines, blocked=sorted(blocked),
                method=method, staff_id=staff_id, email=email, actor=actor)
        except BaseException:
            if free:
                try:
                    await self._engine.release(showtime, holder, free)
                except Exception:
                    log.exception("releasing the counter's holds after a refused sale failed")
            raise
        await self._engine.book(showtime, holder, sale.reference, sale.seats, force=True)
        return sale

    async def _priced(self, showtime: int, seats: Sequence[str]
                      ) -> tuple[list[SeatLine], str]:
        layout = await self._catalog.layout(showtime)
        details = await self._catalog.showtime(showtime)
        prices = await self._catalog.prices(showtime)
        if layout is None or details is None or prices is None:
            raise UnknownShowtime(f"there is no showtime {showtime}")
        if datetime.now(UTC) >= details.starts_at:
            raise SalesClosed("this showtime has started: the counter sells until it starts")
        unknown = layout.unknown(seats)
        if unknown:
            raise UnknownSeat(f"seats: no such seats in this showtime: {', '.join(unknown)}",
                              unknown)
        types = {s: layout.seats[s].type for s in seats}
        off_sale = [s for s in seats if types[s] not in prices]
        if off_sale:
            raise SeatsUnavailable(f"no price for these seats: {', '.join(off_sale)}", off_sale)
        currency = next(iter(prices.values())).currency
        return [SeatLine(s, types[s], prices[types[s]].amount) for s in seats], currency
