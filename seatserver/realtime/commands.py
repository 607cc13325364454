"""Command handlers: one typed message in, one reply out.

The one place where errors become wire frames: a message that cannot be
parsed is answered with ``error``; a parsed command that is refused, with
``ack`` ``ok: false`` and its code (seats at fault included). Anything
unexpected is logged with its stack and answered ``internal_error``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, assert_never

from seatserver.errors import (
    BadMessage,
    CodedError,
    Forbidden,
    RateLimited,
    TooManySeats,
    Unavailable,
    UnknownSeat,
)
from seatserver.holds import BestRequest, HoldEngine
from seatserver.latency import Histogram
from seatserver.protocol import messages as m
from seatserver.realtime.connection import Connection
from seatserver.realtime.rooms import Layout, RoomRegistry
from seatserver.realtime.waiters import WaiterRegistry

log = logging.getLogger(__name__)


def require_seats(layout: Layout, seats: Sequence[str]) -> None:
    unknown = [s for s in seats if s not in layout.seats]
    if unknown:
        raise UnknownSeat(f"no such seat: {', '.join(unknown)}", unknown)


class Commands:
    def __init__(self, engine: HoldEngine, rooms: RoomRegistry,
                 waiters: WaiterRegistry) -> None:
        self._engine = engine
        self._rooms = rooms
        self._waiters = waiters
        # Seconds from a parsed hold or release to its ack written, for /metrics.
        self.latency = {"hold": Histogram(), "release": Histogram()}

    async def handle(self, conn: Connection, raw: Any) -> None:
        ref = m.ref_of(raw)
        try:
            msg = m.parse(raw)
        except BadMessage as err:
            conn.send(m.error(ref, err))
            return
        started = time.perf_counter()
        try:
            conn.send(await self._dispatch(conn, msg))
        except CodedError as err:
            conn.send(m.ack_error(ref, err))
        except Exception:
            log.exception("command %s failed", type(msg).__name__)
            conn.send(m.ack_error(ref, CodedError("internal error")))
        histogram = self.latency.get(msg.op)
        if histogram is not None:
            histogram.observe(time.perf_counter() - started)

    def refuse_flood(self, conn: Connection, raw: Any) -> None:
        conn.send(m.ack_error(m.ref_of(raw), RateLimited("slow down")))

    async def _dispatch(self, conn: Connection, msg: m.ClientMessage) -> dict[str, Any]:
        if isinstance(msg, m.Hold | m.Release | m.Extend) and conn.read_only:
            raise Forbidden("this session only watches: it cannot hold, release or "
                            "extend holds")
        # Exhaustive: a message type added to the union without a case here is
        # a type error (assert_never), never a silent pong.
        match msg:
            case m.Hold():
                return await self._hold(conn, msg)
            case m.Release():
                require_seats(await self._rooms.layout(msg.showtime), msg.seats)
                mark = await self._engine.release(msg.showtime, conn.holder, msg.seats)
                return m.ack_ok(msg.ref, offset=mark.offset, epoch=mark.epoch)
            case m.Extend():
                return await self._extend(conn, msg)
            case m.Subscribe():
                resumed = await self._rooms.subscribe(conn, msg.showtime, msg.since,
                                                      msg.view, msg.epoch)
                # A buyer looking at the seats queues for them (kiosks, and
                # boards that say so, only watch).
                if msg.view == "seats" and msg.queue and not conn.read_only:
                    state = await self._waiters.enter(conn, msg.showtime, asked=False)
                    if state != "open":
                        return m.ack_ok(msg.ref, showtime=msg.showtime, resumed=resumed,
                                        queue=state)
                return m.ack_ok(msg.ref, showtime=msg.showtime, resumed=resumed)
            case m.Unsubscribe():
                self._rooms.unsubscribe(conn, msg.showtime)
                self._waiters.leave(conn, msg.showtime)
                return m.ack_ok(msg.ref)
            case m.Queue():
                await self._rooms.layout(msg.showtime)  # unknown_showtime
                if conn.read_only:
                    raise Forbidden("this session only watches: it cannot queue for seats")
                state = await self._waiters.enter(conn, msg.showtime)
                return m.ack_ok(msg.ref, showtime=msg.showtime, queue=state)
            case m.Ping():
                return m.pong(msg.ref)
            case _:
                assert_never(msg)

    async def _hold(self, conn: Connection, msg: m.Hold) -> dict[str, Any]:
        layout = await self._rooms.layout(msg.showtime)
        if msg.best is not None:
            return await self._best(conn, msg, msg.best, layout)
        assert msg.seats is not None  # parse: exactly one of seats and best
        require_seats(layout, msg.seats)
        if len(msg.seats) > self._engine.max_seats:
            raise TooManySeats(f"at most {self._engine.max_seats} seats per showtime")
        await self._note(conn, msg.showtime)
        result = await self._engine.hold(msg.showtime, conn.holder, msg.seats,
                                         address=conn.address, plan=layout)
        # The ack is written now, the update only once the feed reads the
        # stream: the offset lets a client tell older updates of these seats
        # (arriving after the ack) from what happened to them since.
        return m.ack_ok(msg.ref, expires_at=result.expires_at, offset=result.offset,
                        epoch=result.epoch)

    async def _extend(self, conn: Connection, msg: m.Extend) -> dict[str, Any]:
        await self._rooms.layout(msg.showtime)  # unknown_showtime, as for hold
        # The index must name the showtime for as long as the extended holds last.
        await self._note(conn, msg.showtime)
        result = await self._engine.extend(msg.showtime, conn.holder)
        # As a hold ack: the soonest deadline, the entry's offset and epoch;
        # besides, every held seat's deadline and when no extension can go past.
        return m.ack_ok(msg.ref, expires_at=result.expires_at, deadlines=result.deadlines,
                        limit_at=result.limit_at, offset=result.offset, epoch=result.epoch)

    async def _best(self, conn: Connection, msg: m.Hold, best: m.Best, layout: Layout
                    ) -> dict[str, Any]:
        if best.count > self._engine.max_seats:
            raise TooManySeats(f"at most {self._engine.max_seats} seats per showtime")
        known = self._engine.geometries.of(msg.showtime, layout).types
        unknown = [t for t in best.types if t not in known]
        if unknown:
            raise BadMessage(f"best.types: no seats of type {', '.join(unknown)} here")
        await self._note(conn, msg.showtime)
        want = BestRequest(count=best.count, types=tuple(best.types),
                           accessible=best.accessible)
        result = await self._engine.best(msg.showtime, conn.holder, want, layout,
                                         address=conn.address)
        return m.ack_ok(msg.ref, expires_at=result.expires_at, offset=result.offset,
                        epoch=result.epoch, seats=list(result.seats),
                        together=result.together)

    async def _note(self, conn: Connection, showtime: int) -> None:
        """Keep the holder index naming this showtime, so that the holds can be
        found when a guest signs in; one extra round trip per connection and
        showtime (renewed once a hold time), none on the other holds."""
        now = time.monotonic()
        if now - conn.noted.get(showtime, -1e18) < self._engine.renote_after_s:
            return
        try:
            await self._engine.note_holding(conn.holder, showtime)
        except Unavailable:
            # On a Redis Cluster the index lives on the holder's node, not the
            # showtime's: with that node down the hold itself may still work.
            # Go on without the note (the next hold tries again); linking at
            # sign-in may then miss this showtime's holds, which expire.
            log.warning("holder index unavailable; holding in showtime %s without it",
                        showtime)
            return
        conn.noted[showtime] = now
