"""A guest's seat holds follow it into the account it logs in to.

Holds live in Redis under the holder id (the user id), per showtime. The
showtimes a guest held seats in are found in the holder index the hold path
keeps (``HoldEngine.note_holding``); in each, one ``move`` script hands every
seat over atomically with its deadline. A sign-up needs none of this: the
guest's row becomes the account, so the holder id does not change.
"""

from __future__ import annotations

import asyncio

from seatserver.errors import NotHolder
from seatserver.holds import HoldEngine


class GuestLinker:
    def __init__(self, engine: HoldEngine) -> None:
        self._engine = engine

    async def move_holds(self, guest_id: int, account_id: int) -> int:
        """Move the guest's live holds to the account; returns how many seats.

        Idempotent, so it is run before the log-in's transaction (a failure
        leaves the guest logged in as a guest, free to try again) and once
        more after it, for holds a guest tab made in between.
        """
        guest, account = str(guest_id), str(account_id)
        showtimes = await self._engine.showtimes_of(guest)
        moved = await asyncio.gather(*(self._engine.move(showtime, guest, account)
                                       for showtime in showtimes))
        return sum(len(seats) for seats in moved)


async def release_holds(engine: HoldEngine, user_id: int) -> int:
    """Release every live hold of ``user_id`` (an erased account's): the seats
    go back on sale at once and every room sees them freed. Returns how many."""
    holder = str(user_id)
    released = 0
    for showtime in await engine.showtimes_of(holder):
        mine = list((await engine.snapshot(showtime, holder)).mine)
        if not mine:
            continue
        try:
            await engine.release(showtime, holder, mine)
        except NotHolder as exc:
            # Some expired meanwhile (release is all or none): free the rest.
            mine = [seat for seat in mine if seat not in exc.seats]
            if mine:
                await engine.release(showtime, holder, mine)
        released += len(mine)
    return released
