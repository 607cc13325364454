"""PendingExpirer: expires pending bookings whose payment never came.

Every instance runs one; they cannot expire a booking twice, because the
store only moves a booking that is still pending (row locked), and freeing
its seats in Redis is idempotent. It also forgets Idempotency-Keys past
their 24 hours, so that table does not grow for ever.
"""

from __future__ import annotations

import logging

from seatserver.background import BackgroundService, BackgroundTask
from seatserver.bookings.checkout import Checkout
from seatserver.bookings.idempotency import IdempotencyStore

log = logging.getLogger(__name__)


class PendingExpirer(BackgroundService):
    def __init__(self, checkout: Checkout, keys: IdempotencyStore, interval_s: float) -> None:
        self._checkout = checkout
        self._keys = keys
        super().__init__(BackgroundTask.every("expiring unpaid bookings", interval_s,
                                              self._expire))

    async def _expire(self) -> None:
        expired = await self._checkout.expire_due()
        if expired:
            log.info("expired %d unpaid bookings", expired)
        await self._keys.purge()
