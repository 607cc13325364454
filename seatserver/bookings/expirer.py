"""PendingExpirer: expires pending bookings whose payment never came.

Every instance runs one; they cannot expire a booking twice, because the
store only moves a booking that is still pending (row locked), and freeing
its seats in Redis is idempotent.
"""

from __future__ import annotations

import asyncio
import logging

from seatserver.background import BackgroundTask
from seatserver.bookings.checkout import Checkout

log = logging.getLogger(__name__)


class PendingExpirer:
    def __init__(self, checkout: Checkout, interval_s: float) -> None:
        self._checkout = checkout
        self._interval = interval_s
        self._loop = BackgroundTask("pending-expirer", self._run)

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _run(self) -> None:
        while True:
            try:
                expired = await self._checkout.expire_due()
                if expired:
                    log.info("expired %d unpaid bookings", expired)
            except Exception:
                # Redis or PostgreSQL away: the next round tries again.
                log.exception("expiring unpaid bookings failed")
            await asyncio.sleep(self._interval)
