"""Rebuild Redis' mirror of the bookings from PostgreSQL, the system of record.

Redis mirrors three things PostgreSQL decides: the booked seats (the booked
set, with each seat's booking reference), the seats of pending bookings
(held for their buyer until the payment deadline) and the seats blocked off
online sale (house seats, press: seatserver/house). After Redis lost its data
(flush, restart or failover without persistence) both come back here, and a
seat Redis wrongly shows as booked is freed. Changes go through the same
scripts as live sales, so open rooms see ``book``/``hold``/``cancel`` updates.

It runs at every start-up, from ``seatserver reconcile``, and whenever an
instance finds the mirror marker gone from Redis (``Reconciler``). Live sales
go on meanwhile; every step is checked against PostgreSQL again after it ran,
so a booking that changed under a step is put right, not left wrong.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from seatserver.background import BackgroundService, BackgroundTask
from seatserver.bookings.store import ActiveSale, BookingStore
from seatserver.errors import SeatsUnavailable
from seatserver.holds import HoldEngine

log = logging.getLogger(__name__)

STARTUP_RUN_S = 30.0


@dataclass(frozen=True, slots=True)
class Reconciled:
    """Seats a run changed in Redis: booked again, held again for a pending
    booking, freed (booked in Redis but not in PostgreSQL), blocked again."""

    booked: int = 0
    pending: int = 0
    freed: int = 0
    blocked: int = 0

    @property
    def changed(self) -> int:
        return self.booked + self.pending + self.freed + self.blocked

    def __add__(self, other: Reconciled) -> Reconciled:
        return Reconciled(self.booked + other.booked, self.pending + other.pending,
                          self.freed + other.freed, self.blocked + other.blocked)

    def __str__(self) -> str:
        blocked = f", {self.blocked} blocked seats restored" if self.blocked else ""
        return (f"{self.booked} booked seats restored, {self.pending} seats of pending "
                f"bookings held again, {self.freed} seats freed{blocked}")


async def reconcile(store: BookingStore, engine: HoldEngine) -> Reconciled:
    """Make Redis mirror PostgreSQL's pending and booked seats."""
    total = Reconciled()
    touched: list[tuple[int, ActiveSale]] = []
    for showtime, sales in (await store.active_sales()).items():
        total += await _free_unsold(store, engine, showtime, sales)
        for sale in sales:
            done = await _mirror(engine, showtime, sale)
            if done.changed:
                touched.append((showtime, sale))
                total += done
    await _settle(store, engine, touched)
    # Blocked seats last: a seat sold is never blocked (blocking refuses it),
    # and a hold taken while Redis had lost a block is dropped.
    for showtime, seats in (await store.blocked_seats()).items():
        total += Reconciled(blocked=len((await engine.block(showtime, seats, force=True)).seats))
    return total


async def _free_unsold(store: BookingStore, engine: HoldEngine, showtime: int,
                       sales: Sequence[ActiveSale]) -> Reconciled:
    """Free seats Redis has booked that PostgreSQL does not (or under
    another booking). Asked of PostgreSQL after reading Redis: Redis is told
    of a sale only after PostgreSQL made it, so a sale made meanwhile is seen."""
    should = {seat: s.reference for s in sales if s.status == "booked" for seat in s.seats}
    in_redis = await engine.booked(showtime)
    suspect = [seat for seat, ref in in_redis.items() if should.get(seat) != ref]
    if not suspect:
        return Reconciled()
    confirmed = await store.booked_now(showtime, suspect)
    by_ref: dict[str, list[str]] = defaultdict(list)
    for seat in suspect:
        if confirmed.get(seat) != in_redis[seat]:
            by_ref[in_redis[seat]].append(seat)
    freed = 0
    for reference, seats in by_ref.items():
        # By its own reference, so a seat sold again meanwhile is left alone.
        freed += len((await engine.free(showtime, "", reference, sorted(seats),
                                        kind="cancel")).seats)
    return Reconciled(freed=freed)


async def _mirror(engine: HoldEngine, showtime: int, sale: ActiveSale) -> Reconciled:
    if sale.status == "booked":
        try:
            change = await engine.book(showtime, "", sale.reference, sale.seats, force=True)
        except SeatsUnavailable as err:
            # Redis has them under a booking PostgreSQL confirmed after our
            # read: this one was cancelled meanwhile, and _settle frees it.
            log.warning("reconcile: %s's seats %s are booked by another booking in Redis",
                        sale.reference, err.seats)
            return Reconciled()
        return Reconciled(booked=len(change.seats))
    deadline_ms = round(sale.deadline.timestamp() * 1000)
    change = await engine.reserve(showtime, sale.holder, sale.seats, deadline_ms)
    return Reconciled(pending=len(change.seats))


async def _settle(store: BookingStore, engine: HoldEngine,
                  touched: Sequence[tuple[int, ActiveSale]]) -> None:
    """Redo what a booking's own path told Redis, for bookings that changed
    while we mirrored them: that path's Redis step may have run before ours."""
    if not touched:
        return
    now = await store.statuses([sale.reference for _, sale in touched])
    for showtime, sale in touched:
        status = now.get(sale.reference, "gone")
        if status == sale.status:
            continue
        if status == "booked":
            await engine.book(showtime, sale.holder, sale.reference, sale.seats, force=True)
        else:
            kind = "cancel" if sale.status == "booked" else "release"
            await engine.free(showtime, sale.holder, sale.reference, sale.seats, kind=kind)


class Reconciler(BackgroundService):
    """Keeps Redis' mirror of the bookings in place.

    The mirror marker (a Redis key) says the mirror is there. ``run`` (at
    start-up) reconciles unconditionally; the background check, every
    ``check_s`` on every instance, reconciles when the marker is gone: the
    instance that claims it (SET NX) does the work, the others see it there.
    A failed run drops the marker again, so the next check retries.
    """

    def __init__(self, store: BookingStore, engine: HoldEngine, *, check_s: float) -> None:
        self._store = store
        self._engine = engine
        self._token = secrets.token_hex(8)
        super().__init__(BackgroundTask.every("checking the bookings mirror in Redis",
                                              check_s, self.check))

    async def prepare(self) -> None:
        """Rebuild Redis' booked and pending seats from PostgreSQL before
        serving, so a flushed Redis loses no sale and shows no sold or
        reserved seat as free.

        A Redis that is down must not keep the app from starting: the hold
        path answers ``unavailable`` meanwhile, and the mirror check repairs
        later.
        """
        try:
            done = await asyncio.wait_for(self.run(), STARTUP_RUN_S)
        except Exception:
            log.exception("start-up reconciliation of booked seats failed")
            return
        if done.changed:
            log.warning("reconciliation: %s", done)

    async def run(self) -> Reconciled:
        await self._engine.mark_mirrored(self._token)
        return await self._reconcile()

    async def check(self) -> Reconciled | None:
        """Reconcile if Redis lost the mirror; None when it had it."""
        if not await self._engine.mark_mirrored(self._token):
            return None
        log.warning("Redis has lost the bookings mirror (flushed or restarted): rebuilding")
        done = await self._reconcile()
        log.warning("reconciliation: %s", done)
        return done

    async def _reconcile(self) -> Reconciled:
        try:
            return await reconcile(self._store, self._engine)
        except BaseException:
            try:
                await self._engine.unmark_mirrored(self._token)
            except Exception:
                log.exception("could not drop the mirror marker after a failed rebuild")
            raise
