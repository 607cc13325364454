"""RoomRegistry: the local subscribers of each showtime and the fan-out to them.

One delivery path: a room sends what the change feed read from the stream,
never what this instance just wrote, so every instance and client sees one
order. The entries of one read become one update, encoded once per codec.

Joining without losing or doubling an update. A joiner starts from an offset
``o`` (its snapshot's, or the ``since`` it resumes from); the room has
delivered up to the feed's position ``p``.
  * ``o < p``: the joiner fetches the entries after ``o`` (XRANGE) and sends
    them itself, then looks again (the room may have moved on meanwhile);
  * ``o == p``: it becomes a member; the next batch is exactly what it lacks;
  * ``o > p``: it waits as pending; the first batch that reaches past ``o``
    sends it just the entries after ``o``, then it becomes a member.
The check and the move happen with no await between them, and the feed
advances its position before a batch's fan-out starts, so a joiner that
arrives while a fan-out yields never receives that batch twice.

Offsets compare only within one epoch of the stream (holds/lua/_prelude.lua).
A ``since`` resumes only when its epoch is the stream's and the room's and
its entry is still in the stream; anything else gets a snapshot. A room that
finds the stream in another epoch than its own (from a joiner's snapshot or
from entries it reads) resynchronises before it delivers anything more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from seatserver.changefeed import ChangeFeed, Event, parse_offset
from seatserver.changefeed.events import Position
from seatserver.errors import UnknownShowtime
from seatserver.holds import HoldEngine, Snapshot
from seatserver.holds.geometry import SeatingPlan
from seatserver.holds.sweeper import ExpirySweeper
from seatserver.protocol.codecs import Codec
from seatserver.realtime.budget import FanoutBudget
from seatserver.realtime.connection import Connection

log = logging.getLogger(__name__)

# Subscribers written between two yields to the event loop during a fan-out,
# so that a room of thousands never holds up hold acks for long.
FANOUT_CHUNK = 16


class Layout(SeatingPlan, Protocol):
    """A showtime's seats and seating rules (the catalog's ShowtimeLayout)."""


class LayoutSource(Protocol):
    async def layout(self, showtime_id: int) -> Layout | None: ...


def update_frame(showtime: int, events: Iterable[Event], epoch: str) -> dict[str, Any]:
    """One update carrying several events: each seat's final state and why,
    and for seats it leaves held, their hold's deadline (``expires``, only
    when there are any)."""
    seats: dict[str, str] = {}
    reasons: dict[str, str] = {}
    expires: dict[str, int] = {}
    last = ""
    for event in events:
        state = event.state
        deadline = event.deadline if state == "held" else None
        for seat in event.seats:
            seats[seat] = state
            reasons[seat] = event.kind
            if deadline is not None:
                expires[seat] = deadline
            elif expires:
                expires.pop(seat, None)
        last = event.offset
    frame: dict[str, Any] = {
        "t": "update", "showtime": showtime, "offset": last, "epoch": epoch,
        "seats": seats, "reasons": reasons, "ts": int(time.time() * 1000)}
    if expires:
        frame["expires"] = expires
    return frame


def snapshot_frame(showtime: int, snap: Snapshot) -> dict[str, Any]:
    return {"t": "snapshot", "showtime": showtime, "offset": snap.offset, "epoch": snap.epoch,
            "held": snap.held, "booked": snap.booked, "mine": snap.mine,
            "expires": snap.expires, "blocked": snap.blocked}


def _foreign(events: Iterable[Event], epoch: str) -> bool:
    """Whether any entry was stamped in another epoch (unstamped ones, from a
    server older than epochs, are taken as they come)."""
    return any(e.epoch and e.epoch != epoch for e in events)


@dataclass(frozen=True, slots=True)
class RoomStats:
    rooms: int
    subscribers: int


class Room:
    def __init__(self, showtime: int, layout: Layout, snap: Snapshot) -> None:
        self.showtime = showtime
        self.layout = layout
        self.members: dict[Connection, None] = {}
        self.pending: dict[Connection, Position] = {}
        self.summaries: dict[Connection, None] = {}
        self.joining = 0
        self.state: dict[str, str] = {}
        self.offset = snap.offset
        self.epoch = snap.epoch
        self.reset(snap)
        self.summary_task: asyncio.Task[None] | None = None
        self.summary_sent = 0.0

    @property
    def subscribers(self) -> int:
        return len(self.members) + len(self.pending) + len(self.summaries)

    def reset(self, snap: Snapshot) -> None:
        self.state = dict.fromkeys(snap.held, "held")
        self.state.update(dict.fromkeys(snap.booked, "booked"))
        self.state.update(dict.fromkeys(snap.blocked, "blocked"))
        self.offset = snap.offset
        self.epoch = snap.epoch

    def apply(self, events: Iterable[Event]) -> None:
        state = self.state
        for event in events:
            after = event.state
            for seat in event.seats:
                if after == "free":
                    state.pop(seat, None)
                else:
                    state[seat] = after
            self.offset = event.offset

    @property
    def empty(self) -> bool:
        return not (self.members or self.pending or self.summaries or self.joining)

    def summary(self) -> dict[str, Any]:
        """Seat counts per type and state: what a kiosk board shows. Blocked
        seats are not for sale, so they are not counted free."""
        types = {seat.type for seat in self.layout.seats.values()}
        free, held, booked, blocked = (dict.fromkeys(types, 0) for _ in range(4))
        counts = {None: free, "held": held, "booked": booked, "blocked": blocked}
        for seat_id, seat in self.layout.seats.items():
            counts[self.state.get(seat_id)][seat.type] += 1
        return {"t": "summary", "showtime": self.showtime, "offset": self.offset,
                "epoch": self.epoch, "free": free, "held": held, "booked": booked,
                "blocked": blocked}

    def drop(self, conn: Connection) -> None:
        self.members.pop(conn, None)
        self.pending.pop(conn, None)
        self.summaries.pop(conn, None)


class RoomRegistry:
    """The rooms of this instance; the change feed's sink."""

    def __init__(
        self,
        engine: HoldEngine,
        feed: ChangeFeed,
        layouts: LayoutSource,
        sweeper: ExpirySweeper,
        *,
        summary_interval_s: float,
        budget: FanoutBudget,
    ) -> None:
        self._engine = engine
        self._feed = feed
        self._layouts = layouts
        self._sweeper = sweeper
        self._summary_interval = summary_interval_s
        self.budget = budget
        self._rooms: dict[int, Room] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        feed.bind(self)

    def stats(self) -> RoomStats:
        """How many rooms are open here and how many subscriptions they hold
        (joined, joining, and kiosks' summaries), for the metrics."""
        return RoomStats(rooms=len(self._rooms),
                         subscribers=sum(r.subscribers for r in self._rooms.values()))

    async def close(self) -> None:
        tasks = [*self._tasks]
        tasks += [r.summary_task for r in self._rooms.values() if r.summary_task]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def layout(self, showtime: int) -> Layout:
        layout = await self._layouts.layout(showtime)
        if layout is None:
            raise UnknownShowtime(f"no showtime {showtime}")
        return layout

    # -- joining -----------------------------------------------------------------

    async def subscribe(self, conn: Connection, showtime: int, since: str | None,
                        view: str, epoch: str | None = None) -> bool:
        """Join ``conn`` to the room; returns whether it resumed from ``since``
        (of ``epoch``; without one, as clients from before epochs did)."""
        layout = await self.layout(showtime)
        self.unsubscribe(conn, showtime)  # subscribing again starts afresh
        conn.showtimes.add(showtime)
        try:
            room, snap = await self._open(showtime, layout,
                                          conn.holder if view == "seats" else "")
        except BaseException:
            conn.showtimes.discard(showtime)
            raise
        room.joining += 1
        try:
            if conn.closed or showtime not in conn.showtimes:
                return False
            if view == "summary":
                conn.send(room.summary())
                room.summaries[conn] = None
                return False
            return await self._join(conn, room, since, epoch, snap)
        finally:
            room.joining -= 1
            self._close_if_empty(room)

    async def _open(self, showtime: int, layout: Layout, holder: str
                    ) -> tuple[Room, Snapshot | None]:
        room = self._rooms.get(showtime)
        if room is not None:
            return room, None
        snap = await self._engine.snapshot(showtime, holder)
        room = self._rooms.get(showtime)
        if room is not None:  # another joiner opened it while we waited
            return room, snap
        room = Room(showtime, layout, snap)
        self._rooms[showtime] = room
        self._feed.follow(showtime, snap.offset, snap.epoch)
        self._sweeper.watch(showtime)
        return room, snap

    async def _join(self, conn: Connection, room: Room, since: str | None,
                    epoch: str | None, snap: Snapshot | None) -> bool:
        showtime = room.showtime
        resumed = since is not None and await self._can_resume(room, since, epoch)
        if resumed:
            assert since is not None
            start = since
        else:
            if snap is None:
                snap = await self._engine.snapshot(showtime, conn.holder)
            if snap.epoch != room.epoch:
                # The stream is in an epoch the room has not seen yet (Redis
                # restarted, or another server took over): rebuild the room first.
                await self.resync(showtime)
            conn.send(snapshot_frame(showtime, snap))
            start = snap.offset
        await self._catch_up(conn, room, start)
        return resumed

    async def _can_resume(self, room: Room, since: str, epoch: str | None) -> bool:
        """Whether ``since`` is an entry still in the stream, of the stream's and
        the room's epoch (else: snapshot). A client that names no epoch (one
        from before epochs) is checked for the entry alone."""
        if parse_offset(since) is None or since == "0-0":
            return False
        if epoch is None:
            return await self._feed.has_entry(room.showtime, since)
        point = await self._engine.position(room.showtime, since)
        if point.epoch != room.epoch:
            await self.resync(room.showtime)
        return point.present and epoch == point.epoch == room.epoch

    async def _catch_up(self, conn: Connection, room: Room, start: str) -> None:
        showtime = room.showtime
        while True:
            if conn.closed or showtime not in conn.showtimes:
                return
            if self._rooms.get(showtime) is not room:
                return  # the room was closed and reopened; conn resubscribes
            mine = parse_offset(start)
            delivered = parse_offset(self._feed.position(showtime) or "0-0")
            assert mine is not None and delivered is not None
            if mine == delivered:
                room.members[conn] = None
                return
            if mine > delivered:
                room.pending[conn] = mine
                return
            events = await self._feed.entries_after(showtime, start)
            if conn.closed or showtime not in conn.showtimes:
                return
            if _foreign(events, room.epoch):
                # A new epoch began after ``start``: what follows it is no
                # continuation. Rebuild the room and start this joiner afresh.
                await self.resync(showtime)
                snap = await self._engine.snapshot(showtime, conn.holder)
                conn.send(snapshot_frame(showtime, snap))
                start = snap.offset
                continue
            if not events:
                # Nothing after `start` although the room is past it: the
                # stream lost entries. Let the next batch carry it on.
                room.pending[conn] = mine
                return
            conn.send(update_frame(showtime, events, room.epoch))
            start = events[-1].offset

    # -- leaving -----------------------------------------------------------------

    def unsubscribe(self, conn: Connection, showtime: int) -> None:
        conn.showtimes.discard(showtime)
        room = self._rooms.get(showtime)
        if room is not None:
            room.drop(conn)
            self._close_if_empty(room)

    def drop(self, conn: Connection) -> None:
        for showtime in list(conn.showtimes):
            self.unsubscribe(conn, showtime)

    def _close_if_empty(self, room: Room) -> None:
        if room.empty and self._rooms.get(room.showtime) is room:
            del self._rooms[room.showtime]
            self._feed.unfollow(room.showtime)
            self._sweeper.forget(room.showtime)
            self.budget.forget(room.showtime)
            if room.summary_task is not None:
                room.summary_task.cancel()

    # -- delivery (FeedSink) -----------------------------------------------------

    async def deliver(self, showtime: int, events: list[Event]) -> None:
        room = self._rooms.get(showtime)
        if room is None:
            return
        room.apply(events)
        for event in events:
            if event.deadline is not None:
                self._sweeper.schedule(showtime, event.deadline)
        members = list(room.members)
        self._admit_pending(room, events)
        if room.summaries:
            self._schedule_summary(room)
        if not members:
            return
        began = time.perf_counter()
        frame = update_frame(showtime, events, room.epoch)
        encoded: dict[Codec, bytes] = {}
        for i, conn in enumerate(members, 1):
            data = encoded.get(conn.codec)
            if data is None:
                data = encoded[conn.codec] = conn.codec.frame(frame)
            conn.write(data)
            if i % FANOUT_CHUNK == 0:
                # Acks and other rooms' work go ahead of the next chunk.
                await asyncio.sleep(0)
        self.budget.delivered(showtime, len(members), time.perf_counter() - began)

    def window(self, showtime: int) -> float:
        return self.budget.window(showtime)

    def _admit_pending(self, room: Room, events: list[Event]) -> None:
        last = events[-1].position
        for conn, position in list(room.pending.items()):
            if position >= last:
                continue
            missed = [e for e in events if e.position > position]
            conn.send(update_frame(room.showtime, missed, room.epoch))
            del room.pending[conn]
            room.members[conn] = None

    def _schedule_summary(self, room: Room) -> None:
        if room.summary_task is None or room.summary_task.done():
            room.summary_task = asyncio.create_task(self._send_summary(room))

    async def _send_summary(self, room: Room) -> None:
        wait = room.summary_sent + self._summary_interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        room.summary_sent = time.monotonic()
        frames: dict[Codec, bytes] = {}
        summary = room.summary()
        for conn in list(room.summaries):
            data = frames.get(conn.codec)
            if data is None:
                data = frames[conn.codec] = conn.codec.frame(summary)
            conn.write(data)

    async def resync(self, showtime: int) -> None:
        """The feed lost its place: restart the room from a fresh snapshot."""
        room = self._rooms.get(showtime)
        if room is None:
            return
        snap = await self._engine.snapshot(showtime)
        room.reset(snap)
        self._feed.advance(showtime, snap.offset, snap.epoch)
        rejoin = [*room.members, *room.pending]
        room.members.clear()
        room.pending.clear()
        room.joining += len(rejoin)  # keeps the room open until they are back
        for conn in rejoin:
            task = asyncio.create_task(self._rejoin(conn, room))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if room.summaries:
            self._schedule_summary(room)

    async def _rejoin(self, conn: Connection, room: Room) -> None:
        try:
            await self._join(conn, room, None, None, None)
        except Exception as exc:  # Redis gone again: the client reconnects
            log.warning("rejoin of %s to showtime %s failed: %s", conn.holder,
                        room.showtime, exc)
            conn.close(1011, "lost the seat feed; reconnect")
        finally:
            room.joining -= 1
            self._close_if_empty(room)
