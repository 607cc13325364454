"""Rebuild Redis' booked sets from PostgreSQL, the system of record.

Run at every start-up and by ``seatserver reconcile``: after Redis lost its
data (flush, failover without persistence) the booked seats come back, and a
seat Redis wrongly shows as booked is freed. Changes go through the same
scripts as live sales, so open rooms see ``book``/``cancel`` updates.
"""

from __future__ import annotations

from seatserver.bookings.store import BookingStore
from seatserver.holds import HoldEngine


async def rebuild_booked(store: BookingStore, engine: HoldEngine) -> int:
    """Make every showtime's booked set what PostgreSQL says; returns seats changed."""
    changed = 0
    for showtime, bookings in (await store.booked_seats()).items():
        should = {seat for seats in bookings.values() for seat in seats}
        extra = sorted(await engine.booked(showtime) - should)
        if extra:
            changed += len((await engine.free(showtime, "", "", extra, kind="cancel")).seats)
        for reference, seats in bookings.items():
            changed += len((await engine.book(showtime, "", reference, seats,
                                              force=True)).seats)
    return changed
