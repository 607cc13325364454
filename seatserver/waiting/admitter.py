"""Admitter: the task that lets buyers in from each showtime's waiting room.

Every instance runs one; per showtime, the one holding the Redis lock (with
a fencing token, waiting/lua/lead.lua) admits, and the others only keep
trying to take the lock. Each step is one script that checks the token, pops
the front of the queue and writes the admissions together, so two instances
never admit beside each other, even one that stalled past its lease. A
killed leader's lease runs out (a few steps) and another instance goes on
where it stopped: the queue and its rate's bucket live in Redis.

At the opening, the leader shuffles the pre-queue with the operating
system's secure random source (``secrets``) and hands the order to Redis.
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import datetime
from types import TracebackType
from typing import Protocol

from seatserver.background import OUTAGES, BackgroundService, BackgroundTask
from seatserver.waiting.engine import QueueEngine, Step
from seatserver.waiting.models import SaleSettings
from seatserver.waiting.store import GatedShowtime

log = logging.getLogger(__name__)

# Seconds between two reads of the sale settings from PostgreSQL (other
# instances' admin changes are seen within this; this instance's at once).
REFRESH_S = 5.0
# Steps a lease lasts: a leader that misses fewer keeps the lock.
LEASE_STEPS = 8
MIN_LEASE_MS = 2_000
# Shuffles tried in one step before waiting for the next (arrivals raced it).
SHUFFLE_TRIES = 3


class SaleSource(Protocol):
    async def gated(self, *, everyone: bool = False) -> list[GatedShowtime]: ...


class Admitter(BackgroundService):
    def __init__(self, engine: QueueEngine, sales: SaleSource, *, interval_s: float) -> None:
        super().__init__(BackgroundTask.every("waiting room admitter", interval_s, self._round))
        self._engine = engine
        self._sales = sales
        self.lease_ms = max(MIN_LEASE_MS, int(LEASE_STEPS * interval_s * 1000))
        self._rooms: set[int] = set()  # showtimes with a waiting room on
        self._listed: set[int] = set()  # showtimes the last refresh configured
        # Changed here since the last refresh began: showtime -> waiting room on.
        self._tracked: dict[int, bool] = {}
        self._tokens: dict[int, str] = {}  # showtime -> our fencing token
        self._random = secrets.SystemRandom()
        self._refreshed = -1e18
        self.admitted = 0  # buyers this instance admitted, for /metrics

    @property
    def leading(self) -> set[int]:
        """The showtimes whose buyers this instance admits now."""
        return set(self._tokens)

    def may_gate(self, showtime: int) -> bool:
        """Whether holds in ``showtime`` may need an admission, as far as this
        instance knows: always before its first refresh; after it, when the
        showtime has sale settings (its own, or a default's), as read at the
        last refresh (REFRESH_S) or changed here since. The hold script
        decides in the end; this spares a showtime that gates nothing a
        Redis step for every arriving buyer."""
        return self._refreshed < 0 or showtime in self._listed

    async def track(self, settings: SaleSettings, keep_until: datetime) -> None:
        """Apply a change made here at once (Redis, and the rooms served)."""
        await self._engine.configure(settings, int(keep_until.timestamp() * 1000))
        self._listed.add(settings.showtime)
        self._tracked[settings.showtime] = settings.waiting_room
        if settings.waiting_room:
            self._rooms.add(settings.showtime)
        else:
            self._rooms.discard(settings.showtime)

    async def refresh(self) -> None:
        """Read the settings from PostgreSQL and make Redis obey them (a
        flushed Redis, or another instance's change whose own write to Redis
        failed). An admin's change on another instance can land between our
        read and our write: Redis counts the changes it was given, and a
        showtime whose count moved since before our read keeps the change
        (a showtime first seen now counts from 0, which at worst leaves it
        to the next refresh)."""
        # A change made here while this refresh reads stays as it was made
        # (listed, its room on or off), though the read may have begun before
        # it was committed: a room turned on then was left out until the next
        # refresh, 5 s without admissions (seen in loaded test runs).
        self._tracked = {}
        changes = await self._engine.changes(self._listed)
        # The first refresh of a start sets every showtime not yet over: the
        # defaults come from the environment, so they change only with a
        # restart, and one that no longer gates a showtime (a default on-sale
        # time or waiting room removed) must not leave it gated in Redis.
        gated = await self._sales.gated(everyone=self._refreshed < 0)
        for entry in gated:
            showtime = entry.settings.showtime
            await self._engine.configure(entry.settings,
                                         int(entry.keep_until.timestamp() * 1000),
                                         seen=changes.get(showtime, 0))
        # Listed: what has sale settings, its own or a default's (the first
        # refresh wrote the rest too, but they gate nothing).
        self._listed = {e.settings.showtime for e in gated
                        if e.settings.gated or e.settings.source == "showtime"} | set(self._tracked)
        self._rooms = ({e.settings.showtime for e in gated if e.settings.waiting_room}
                       - {st for st, on in self._tracked.items() if not on}
                       | {st for st, on in self._tracked.items() if on})
        for showtime in set(self._tokens) - self._rooms:
            await self._resign(showtime)
        self._refreshed = time.monotonic()

    async def step(self, showtime: int) -> Step:
        """Lead the showtime if no one does, and admit what its settings allow."""
        token = self._tokens.get(showtime, "")
        if not token:
            token = await self._engine.lead(showtime, "", self.lease_ms)
            if not token:
                return Step("not_leader", 0)
            log.info("admitting the buyers of showtime %s (token %s)", showtime, token)
            self._tokens[showtime] = token
        step = await self._engine.admit(showtime, token, self.lease_ms)
        for _ in range(SHUFFLE_TRIES):
            if step.state != "shuffle":
                break
            order = list(step.holders)
            self._random.shuffle(order)
            if await self._engine.shuffle(showtime, token, order) == "ok":
                log.info("showtime %s on sale: %d early buyers shuffled", showtime, len(order))
            step = await self._engine.admit(showtime, token, self.lease_ms)
        if step.state == "not_leader":
            log.info("no longer admitting the buyers of showtime %s", showtime)
            self._tokens.pop(showtime, None)
        self.admitted += len(step.holders) if step.state == "ok" else 0
        return step

    async def _round(self) -> None:
        """One round: the settings read again when due, then a step per room."""
        if time.monotonic() - self._refreshed >= REFRESH_S:
            await self.refresh()
        for showtime in sorted(self._rooms):
            await self.step(showtime)

    async def _resign(self, showtime: int) -> None:
        token = self._tokens.pop(showtime, "")
        if token:
            await self._engine.resign(showtime, token)

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await super().__aexit__(kind, error, trace)
        # Handing the locks back lets another instance go on at once, rather
        # than after the lease.
        for showtime in list(self._tokens):
            try:
                await self._resign(showtime)
            except OUTAGES:
                self._tokens.pop(showtime, None)
