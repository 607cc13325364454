"""HouseSeats: blocking and unblocking seats of a showtime, for admins.

PostgreSQL records the block and Redis enforces it; both change in one step
as seen from outside: the Redis script runs inside the PostgreSQL
transaction, so a seat held online (the script refuses it) leaves no row,
and a block that committed is in Redis already. A crash between Redis'
step and the commit leaves a block Redis has and PostgreSQL lacks: the
caller compensates (the opposite script), and the rebuild from PostgreSQL
after Redis lost its data (bookings/reconcile.py) gives Redis the record's
blocks.
"""

from __future__ import annotations

from collections.abc import Sequence

from seatserver.audit import Actor
from seatserver.catalog.store import CatalogStore
from seatserver.errors import UnknownSeat, UnknownShowtime
from seatserver.holds import HoldEngine
from seatserver.house.store import Block, HouseStore


class HouseSeats:
    def __init__(self, store: HouseStore, engine: HoldEngine, catalog: CatalogStore) -> None:
        self._store = store
        self._engine = engine
        self._catalog = catalog

    async def _known(self, showtime: int, seats: Sequence[str]) -> None:
        layout = await self._catalog.layout(showtime)
        if layout is None:
            raise UnknownShowtime(f"there is no showtime {showtime}")
        unknown = layout.unknown(seats)
        if unknown:
            raise UnknownSeat(f"seats: no such seats in this showtime: {', '.join(unknown)}",
                              unknown)

    async def blocks(self, showtime: int) -> list[Block]:
        await self._known(showtime, ())
        return await self._store.blocks(showtime)

    async def block(self, showtime: int, seats: Sequence[str], *, reason: str,
                    note: str | None, actor: Actor, actor_id: int) -> list[Block]:
        """Block seats; ``seats_unavailable`` names any held online or sold."""
        await self._known(showtime, seats)
        done: list[str] = []

        async def in_redis() -> None:
            done.extend((await self._engine.block(showtime, seats)).seats)

        try:
            return await self._store.block(
                showtime, seats, reason=reason, note=note, actor=actor, actor_id=actor_id,
                then=in_redis)
        except BaseException:
            if done:  # Redis blocked them but the transaction did not commit
                await self._engine.unblock(showtime, done)
            raise

    async def unblock(self, showtime: int, seats: Sequence[str], *, actor: Actor) -> list[str]:
        await self._known(showtime, seats)
        done: list[str] = []

        async def in_redis() -> None:
            done.extend((await self._engine.unblock(showtime, seats)).seats)

        try:
            return await self._store.unblock(showtime, seats, actor=actor, then=in_redis)
        except BaseException:
            if done:  # Redis unblocked them but the transaction did not commit
                await self._engine.block(showtime, done, force=True)
            raise

