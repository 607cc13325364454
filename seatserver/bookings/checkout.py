"""Checkout: holds in Redis become a pending booking, and payments move it on.

The order of steps is chosen so that a crash anywhere loses nothing:
PostgreSQL decides (one transaction per step, the unique index arbitrating
seats), then Redis is told with idempotent scripts. Repeating a step, or
reconciling from PostgreSQL, brings Redis back in line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from seatserver.bookings.gateway import PaymentEvent, PaymentGateway
from seatserver.bookings.models import Booking, Sale
from seatserver.bookings.reconcile import rebuild_booked
from seatserver.bookings.refunds import RefundPolicy
from seatserver.bookings.store import BookingStore, EventOutcome, SeatLine
from seatserver.catalog.store import CatalogStore
from seatserver.errors import (
    CancelClosed,
    HoldExpired,
    NotFound,
    NothingToBook,
    NotHolder,
    PaymentMismatch,
    SalesClosed,
    SeatsUnavailable,
    UnknownSeat,
    UnknownShowtime,
)
from seatserver.holds import HoldEngine

log = logging.getLogger(__name__)

# A booking reference no booking has (references are 10 characters): freeing
# with it drops the buyer's holds but never touches a booked seat.
_NO_BOOKING = "-"


class Checkout:
    def __init__(self, store: BookingStore, engine: HoldEngine, catalog: CatalogStore,
                 gateways: Mapping[str, PaymentGateway], *, default_gateway: str,
                 sales_close: timedelta, payment_window: timedelta,
                 refunds: RefundPolicy) -> None:
        self._store = store
        self._engine = engine
        self._catalog = catalog
        self._gateways = gateways
        self._default = default_gateway
        self._sales_close = sales_close
        self._window = payment_window
        self._refunds = refunds

    def gateway(self, name: str) -> PaymentGateway | None:
        return self._gateways.get(name)

    async def start(self, *, user_id: int, showtime: int, seats: Sequence[str] | None,
                    base_url: str, remote: str | None) -> tuple[Booking, str]:
        """The caller's holds (or the named ones) as a pending booking with a
        payment order; returns it and the URL where the buyer pays."""
        sale = await self._store.sale(showtime)
        if sale is None:
            raise UnknownShowtime(f"there is no showtime {showtime}")
        if datetime.now(UTC) >= sale.starts_at - self._sales_close:
            raise SalesClosed("sales for this showtime have closed")
        holder = str(user_id)
        deadlines = await self._held_seats(showtime, holder, seats)
        wanted = list(deadlines)
        lines = await self._priced(sale, wanted)
        # Longer holds first: the seats must stay ours while the buyer pays.
        held = await self._engine.hold(showtime, holder, wanted,
                                       ttl_ms=int(self._window.total_seconds() * 1000))
        deadline = datetime.fromtimestamp(held.expires_at / 1000, UTC)
        try:
            booking = await self._store.create_pending(
                user_id=user_id, sale=sale, lines=lines, deadline=deadline, remote=remote)
        except SeatsUnavailable as err:
            await self._undo_extension(showtime, holder, deadlines, sold=err.seats)
            raise
        except Exception:
            await self._undo_extension(showtime, holder, deadlines, sold=[])
            raise
        gateway = self._gateways[self._default]
        try:
            order = await gateway.create_order(
                reference=booking.reference, amount=booking.total.amount,
                currency=booking.total.currency,
                return_url=f"{base_url}/api/payments/{gateway.name}/return",
                webhook_url=f"{base_url}/api/payments/{gateway.name}/webhook",
                expires_at=deadline)
        except Exception:
            await self._expire(booking.reference, "payment order not created")
            raise
        booking = await self._store.attach_payment(booking.reference, gateway.name,
                                                   order.order_id)
        return booking, order.checkout_url

    async def _held_seats(self, showtime: int, holder: str,
                          seats: Sequence[str] | None) -> dict[str, int]:
        """The seats to book and each one's hold deadline (ms, Redis clock)."""
        mine = (await self._engine.snapshot(showtime, holder)).mine
        if seats is None:
            if not mine:
                raise NothingToBook("you hold no seats for this showtime")
            return {s: mine[s] for s in sorted(mine)}
        if not seats:
            raise NothingToBook("no seats named")
        if not mine:
            raise HoldExpired("your holds have expired; pick the seats again", seats)
        missing = [s for s in seats if s not in mine]
        if missing:
            raise NotHolder(f"not held by you: {', '.join(missing)}", missing)
        return {s: mine[s] for s in seats}

    async def _undo_extension(self, showtime: int, holder: str, deadlines: Mapping[str, int],
                              *, sold: Sequence[str]) -> None:
        """No booking was made: put the buyer's holds back as they were.

        A refused checkout should change nothing but what it must. Seats sold
        to someone else (the unique index named them) cannot be the buyer's,
        so they are released and the picker drops them from the basket; every
        other seat gets its own hold deadline back, so the buyer's countdown
        resumes where it was instead of running on a payment window for a
        payment that will never be asked for. A hold whose deadline passed
        meanwhile is released, as the sweeper would have done. Best effort: a
        Redis failure here must not hide the refusal, and the extended hold
        still ends at the payment window's close.
        """
        now = time.time() * 1000 + self._engine.clock_offset_ms
        lapsed = [s for s, due in deadlines.items() if s in sold or due <= now + 50]
        by_deadline: dict[int, list[str]] = {}
        for seat, due in deadlines.items():
            if seat not in lapsed:
                by_deadline.setdefault(due, []).append(seat)
        try:
            for due, group in sorted(by_deadline.items()):
                await self._engine.hold(showtime, holder, group, ttl_ms=int(due - now))
            if lapsed:
                await self._engine.free(showtime, holder, _NO_BOOKING, lapsed, kind="release")
        except Exception:
            log.exception("restoring holds after a refused checkout failed")

    async def _priced(self, sale: Sale, seats: Sequence[str]) -> list[SeatLine]:
        layout = await self._catalog.layout(sale.showtime)
        if layout is None:
            raise UnknownShowtime(f"there is no showtime {sale.showtime}")
        unknown = layout.unknown(seats)
        if unknown:
            raise UnknownSeat(f"no such seats: {', '.join(unknown)}", unknown)
        types = {s: layout.seats[s].type for s in seats}
        # The catalog's one pricing function: what the seat map showed.
        prices = await self._catalog.prices(sale.showtime) or {}
        off_sale = [s for s in seats if types[s] not in prices]
        if off_sale:
            raise SeatsUnavailable(f"not on sale: {', '.join(off_sale)}", off_sale)
        return [SeatLine(s, types[s], prices[types[s]].amount) for s in seats]

    async def apply(self, provider: str, event: PaymentEvent) -> Booking:
        """Apply a verified payment event; safe to repeat and in any order."""
        outcome = await self._store.apply_event(provider, event)
        if outcome is None:
            await self._store.record_refused(provider, event, "unknown_order")
            raise NotFound(f"unknown order {event.order_id}")
        if outcome.result == "mismatch":
            # We never book for the wrong money; support sees it in the audit log.
            await self._store.record_refused(provider, event, "amount_mismatch")
            raise PaymentMismatch("payment amount or currency does not match the booking")
        await self._after(outcome, provider, event)
        return outcome.booking

    async def _after(self, outcome: EventOutcome, provider: str, event: PaymentEvent) -> None:
        booking = outcome.booking
        if outcome.result in ("booked", "reacquired", "duplicate", "ignored") \
                and booking.status == "booked":
            # PostgreSQL gave these seats to the booking; Redis follows (idempotent).
            await self._engine.book(booking.showtime, booking.holder, booking.reference,
                                    booking.seat_ids, force=True)
        elif outcome.result == "expired":
            await self._engine.free(booking.showtime, booking.holder, booking.reference,
                                    booking.seat_ids, kind="release")
        elif outcome.result == "refund":
            log.warning("late payment for %s: seats gone, refunding", booking.reference)
            await self._gateways[provider].refund(event.order_id, outcome.refund)

    async def _expire(self, reference: str, reason: str) -> Booking | None:
        booking = await self._store.expire(reference, actor="system", reason=reason)
        if booking is not None:
            await self._engine.free(booking.showtime, booking.holder, booking.reference,
                                    booking.seat_ids, kind="release")
        return booking

    async def expire_due(self) -> int:
        """Expire pending bookings whose payment window has passed; returns how many."""
        count = 0
        for reference in await self._store.due_pending():
            if await self._expire(reference, "payment window passed"):
                count += 1
        return count

    async def cancel(self, reference: str, *, user_id: int, remote: str | None) -> Booking:
        """Cancel a booked booking before the cut-off, refunding what the
        policy gives at this moment (see ``RefundPolicy``)."""
        booking = await self._store.get(reference)
        if booking is None or booking.user_id != user_id:
            raise NotFound(f"no booking {reference}")
        sale = await self._store.sale(booking.showtime)
        assert sale is not None
        if booking.status != "booked":
            raise CancelClosed(f"a {booking.status} booking cannot be cancelled")
        refund = self._refunds.refund(booking.total.amount, starts_at=sale.starts_at,
                                      now=datetime.now(UTC))
        if refund is None:
            raise CancelClosed("cancellation closed: the show starts too soon")
        if booking.payment is not None and refund > 0:
            # Refund first: a refund that fails leaves the booking as it was. The
            # amount is the order's refunded total, so a racing cancel refunds once.
            await self._gateways[booking.payment.provider].refund(
                booking.payment.order_id, refund)
        try:
            cancelled = await self._store.cancel(reference, user_id=user_id,
                                                 refund=refund, remote=remote)
        except LookupError:
            raise CancelClosed("the booking changed meanwhile; look again") from None
        await self._engine.free(cancelled.showtime, cancelled.holder, cancelled.reference,
                                cancelled.seat_ids, kind="cancel")
        return cancelled

    async def reconcile(self) -> int:
        """Make Redis' booked sets what PostgreSQL says; returns seats changed."""
        return await rebuild_booked(self._store, self._engine)
