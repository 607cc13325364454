"""WaiterRegistry: this instance's buyers waiting in waiting rooms, and the
position updates they get.

Joining is one script (waiting/lua/join.lua); from then one task reads, per
showtime with local waiters, where each of them is in one step
(status.lua) every ``tick_s`` and writes what changed: ``admitted`` at
once, a new position no more often than every ``update_s`` per buyer (a
queue of thousands moving every second would otherwise cost thousands of
frames a second for news nobody needs that often). An admitted buyer's
sockets stay followed until its admission lapses unused: then each is told
``admission_lapsed`` once and no longer followed (it queues again, or not).

The estimated wait is the position over the admission rate: the one set,
or, for a room paced by its cap alone, the rate seen over the last minute.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from seatserver.background import BackgroundTask
from seatserver.errors import Unavailable
from seatserver.protocol import messages as m
from seatserver.realtime.connection import Connection
from seatserver.waiting.engine import Place, QueueEngine, RoomStatus

log = logging.getLogger(__name__)

# Seconds of admissions the seen rate is measured over.
RATE_WINDOW_S = 60.0


@dataclass(slots=True)
class _Seen:
    """What a waiter was last told, and when (monotonic seconds)."""

    state: str = ""
    position: int = -1
    at: float = -1e18


class WaiterRegistry:
    def __init__(self, queue: QueueEngine, *, update_s: float, tick_s: float = 1.0,
                 may_gate: Callable[[int], bool] = lambda showtime: True) -> None:
        self._queue = queue
        # Whether a showtime may have a waiting room or an on-sale time, as
        # this instance last read (Admitter.may_gate): one that does not is
        # open, and a subscriber to it costs no Redis step to join or leave.
        self._may_gate = may_gate
        self._update = update_s
        self._rooms: dict[int, dict[Connection, _Seen]] = {}
        # showtime -> (monotonic s, admissions ever made), for the seen rate
        self._admitted: dict[int, deque[tuple[float, int]]] = {}
        self._task = BackgroundTask.every("waiting room positions", tick_s, self.tick)
        self._leaving: set[asyncio.Future[None]] = set()

    @property
    def waiting(self) -> int:
        return sum(seen.state != "admitted" for r in self._rooms.values() for seen in r.values())

    def start(self) -> None:
        self._task.start()

    async def stop(self) -> None:
        await self._task.stop()
        await asyncio.gather(*self._leaving, return_exceptions=True)

    async def enter(self, conn: Connection, showtime: int, *, asked: bool = True) -> str:
        """Join ``conn``'s holder to the showtime's waiting room and tell it
        where it is: ``open`` (no waiting room: nothing sent), ``admitted``
        or ``waiting``/``before_sale`` (then followed until admitted, and
        admitted until the admission lapses). Not ``asked`` (a subscribe,
        not a ``queue``): a showtime this instance knows to gate nothing is
        ``open`` without asking Redis; a change of its settings on another
        instance is seen within the admitter's refresh, and a hold meanwhile
        is refused ``not_admitted`` by the script, which sends the page to
        queue (``asked``, so from Redis)."""
        if not asked and not self._may_gate(showtime):
            return "open"
        place = await self._queue.join(showtime, conn.holder)
        if place.state == "open":
            return "open"
        seen = self._rooms.setdefault(showtime, {}).setdefault(conn, _Seen())
        if place.state == "admitted":
            seen.state = "admitted"
            conn.send(m.admitted(showtime, place.value))
            return "admitted"
        told = (seen.state, seen.position, seen.at)
        status, _ = await self._queue.status(showtime, [])
        if self._rooms.get(showtime, {}).get(conn) is not seen:
            return place.state  # gone meanwhile (closed, unsubscribed): not followed
        if (seen.state, seen.position, seen.at) != told:
            # A tick read the room after this join and told the socket (an
            # admission, a newer place): the join's answer is older news.
            return seen.state
        self._tell(conn, showtime, place, status, seen, force=True)
        return place.state

    def leave(self, conn: Connection, showtime: int) -> None:
        room = self._rooms.get(showtime)
        if room is not None:
            room.pop(conn, None)
            if not room:
                del self._rooms[showtime]
                self._admitted.pop(showtime, None)

    def drop(self, conn: Connection) -> None:
        for showtime in list(self._rooms):
            self.leave(conn, showtime)

    def showtimes_of(self, conn: Connection) -> set[int]:
        """The showtimes ``conn`` waits in here."""
        return {showtime for showtime, room in self._rooms.items() if conn in room}

    def gone(self, holder: str, showtimes: Iterable[int]) -> None:
        """``holder``'s last socket on this process closed: an admission it
        does not use ends within the presence grace (waiting/lua/leave.lua),
        so a closed tab does not keep a place among the active buyers. In the
        background: the socket's handler does not wait on Redis."""
        for showtime in showtimes:
            if not self._may_gate(showtime):
                continue  # no admission to end there
            task = asyncio.ensure_future(self._leave(showtime, holder))
            self._leaving.add(task)
            task.add_done_callback(self._leaving.discard)

    async def _leave(self, showtime: int, holder: str) -> None:
        try:
            await self._queue.leave(showtime, holder)
        except Unavailable as exc:  # the admission lapses by its lifetime instead
            log.info("could not shorten the admission of %s in showtime %s: %s",
                     holder, showtime, exc)

    async def tick(self) -> None:
        """Tell every local waiter what changed (one step per showtime)."""
        for showtime in list(self._rooms):
            room = self._rooms.get(showtime)
            if not room:
                continue
            conns = [c for c in room if not c.closed]
            holders = sorted({c.holder for c in conns})
            status, places = await self._queue.status(showtime, holders)
            by_holder = dict(zip(holders, places, strict=True))
            self._note_rate(showtime, status)
            for conn in conns:
                seen = room.get(conn)
                if seen is not None:
                    await self._follow(conn, showtime, by_holder[conn.holder], status, seen)

    async def _follow(self, conn: Connection, showtime: int, place: Place,
                      status: RoomStatus, seen: _Seen) -> None:
        if place.state == "admitted":
            if seen.state != "admitted":
                seen.state = "admitted"
                conn.send(m.admitted(showtime, place.value))
        elif seen.state == "admitted":
            # Lapsed unused (or ended by leave.lua): said once, then this
            # socket is no longer followed; a `queue` (or subscribe) joins again.
            conn.send(m.admission_lapsed(showtime))
            self.leave(conn, showtime)
        elif place.state == "none":
            # The room was reset (Redis lost it) or turned off and on: back in line.
            self.leave(conn, showtime)
            await self.enter(conn, showtime)
        else:
            self._tell(conn, showtime, place, status, seen, force=False)

    def _tell(self, conn: Connection, showtime: int, place: Place, status: RoomStatus,
              seen: _Seen, *, force: bool) -> None:
        now = time.monotonic()
        changed = (place.state, place.value) != (seen.state, seen.position)
        if not force and (not changed or now - seen.at < self._update):
            return
        seen.state, seen.position, seen.at = place.state, place.value, now
        waiting = place.state == "waiting"
        conn.send(m.queue_position(
            showtime, place.state, place.value if waiting else None, status.waiting,
            self._eta(showtime, place, status) if waiting else None,
            status.opens_at or None))

    def _note_rate(self, showtime: int, status: RoomStatus) -> None:
        samples = self._admitted.setdefault(showtime, deque())
        now = time.monotonic()
        samples.append((now, status.admitted))
        while len(samples) > 2 and now - samples[0][0] > RATE_WINDOW_S:
            samples.popleft()

    def _eta(self, showtime: int, place: Place, status: RoomStatus) -> int | None:
        per_s = status.rate / 60
        samples = self._admitted.get(showtime)
        if samples and len(samples) >= 2:
            (t0, n0), (t1, n1) = samples[0], samples[-1]
            seen = (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0
            per_s = min(per_s, seen) if per_s and seen else per_s or seen
        if per_s <= 0:
            return None
        return math.ceil(place.value / per_s)

