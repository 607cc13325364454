"""Checkout: holds in Redis become a pending booking, and payments move it on.

The order of steps is chosen so that a crash anywhere loses nothing:
PostgreSQL decides (one transaction per step, the unique index arbitrating
seats), then Redis is told with idempotent scripts. Repeating a step, or
reconciling from PostgreSQL, brings Redis back in line.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from seatserver.bookings.gateway import PaymentEvent, PaymentGateway
from seatserver.bookings.models import Booking, Contact, Sale
from seatserver.bookings.refunds import RefundPolicy
from seatserver.bookings.store import BookingStore, EventOutcome, SeatLine
from seatserver.catalog.store import CatalogStore
from seatserver.errors import (
    CancelClosed,
    HoldExpired,
    InvalidInput,
    NotFound,
    NothingToBook,
    NotHolder,
    PaymentMismatch,
    PaymentUnavailable,
    SalesClosed,
    SeatsUnavailable,
    UnknownSeat,
    UnknownShowtime,
    WouldOrphan,
)
from seatserver.holds import HoldEngine
from seatserver.latency import Histograms

log = logging.getLogger(__name__)

# Attention flags of a capture refunded in full because it could not book:
# a resend of its event asks the provider for the refund again (idempotent).
REFUNDED_CAPTURES = ("late_payment_refunded", "capture_after_cancel")

# A booking reference no booking has (references are 10 characters): freeing
# with it drops the buyer's holds but never touches a booked seat.
_NO_BOOKING = "-"


class Checkout:
    def __init__(self, store: BookingStore, engine: HoldEngine, catalog: CatalogStore,
                 gateways: Mapping[str, PaymentGateway], *, default_gateway: str,
                 sales_close: timedelta, payment_window: timedelta,
                 payment_timeout_s: float, refunds: RefundPolicy, public_url: str) -> None:
        self._store = store
        self._engine = engine
        self._catalog = catalog
        self._gateways = gateways
        self._default = default_gateway
        self._sales_close = sales_close
        self._window = payment_window
        self._timeout = payment_timeout_s
        self._refunds = refunds
        # Where the provider sends the buyer back and posts its webhooks:
        # configured (SEATSERVER_PUBLIC_URL), never taken from a request.
        self._public_url = public_url
        # Checkout requests by outcome, timed by the HTTP handler (read by /metrics).
        self.latency = Histograms()

    def gateway(self, name: str) -> PaymentGateway | None:
        return self._gateways.get(name)

    async def start(self, *, user_id: int, showtime: int, seats: Sequence[str] | None,
                    remote: str | None, accept_orphans: bool = False,
                    contact: Contact | None = None) -> tuple[Booking, str]:
        """The caller's holds (or the named ones) as a pending booking with a
        payment order; returns it and the URL where the buyer pays.

        The orphan rule is checked again (the showtime's, when on): the seats
        were fine when held, but someone else's release or expiry since may
        have left a single free seat beside them. Then ``would_orphan`` names
        it and nothing changes; the buyer changes seats, or checks out again
        with ``accept_orphans`` to keep them."""
        sale = await self._store.sale(showtime)
        if sale is None:
            raise UnknownShowtime(f"there is no showtime {showtime}")
        if datetime.now(UTC) >= sale.starts_at - self._sales_close:
            raise SalesClosed("sales for this showtime have closed")
        holder = str(user_id)
        deadlines = await self._held_seats(showtime, holder, seats)
        wanted = list(deadlines)
        lines = await self._priced(sale, wanted)
        if not accept_orphans:
            await self._check_orphans(showtime, wanted)
        # Longer holds first: the seats must stay ours while the buyer pays.
        held = await self._engine.hold(showtime, holder, wanted,
                                       ttl_ms=int(self._window.total_seconds() * 1000))
        deadline = datetime.fromtimestamp(held.expires_at / 1000, UTC)
        try:
            booking = await self._store.create_pending(
                user_id=user_id, sale=sale, lines=lines, deadline=deadline, remote=remote,
                contact=contact)
        except SeatsUnavailable as err:
            await self._undo_extension(showtime, holder, deadlines, sold=err.seats)
            raise
        except Exception:
            await self._undo_extension(showtime, holder, deadlines, sold=[])
            raise
        try:
            booking, url = await self._pay(booking, deadline)
        except BaseException:
            await self._abandon(booking, deadlines)
            raise
        return booking, url

    async def _pay(self, booking: Booking, deadline: datetime) -> tuple[Booking, str]:
        """The provider's order for a pending booking; PaymentUnavailable when
        the provider fails or does not answer in time."""
        gateway = self._gateways[self._default]
        try:
            order = await asyncio.wait_for(gateway.create_order(
                reference=booking.reference, amount=booking.total.amount,
                currency=booking.total.currency,
                return_url=f"{self._public_url}/api/payments/{gateway.name}/return",
                webhook_url=f"{self._public_url}/api/payments/{gateway.name}/webhook",
                expires_at=deadline), self._timeout)
        except Exception as exc:  # TimeoutError included
            log.warning("payment provider %s could not create an order for %s: %r",
                        gateway.name, booking.reference, exc)
            raise PaymentUnavailable(
                "the payment provider is not answering; nothing was charged and your seats "
                "are still held: try again shortly") from exc
        booking = await self._store.attach_payment(booking.reference, gateway.name,
                                                   order.order_id)
        return booking, order.checkout_url

    async def _abandon(self, booking: Booking, deadlines: Mapping[str, int]) -> None:
        """No payment could be asked for: the booking expires and the buyer's
        holds go back to what they were before checkout, so trying again later
        finds them as they were."""
        try:
            await self._store.expire(booking.reference, actor="system",
                                     reason="payment order not created")
        except Exception:
            # Still pending: the expiry job ends it when the payment window closes.
            log.exception("expiring abandoned booking %s failed", booking.reference)
            return
        await self._undo_extension(booking.showtime, booking.holder, deadlines, sold=[])

    async def _held_seats(self, showtime: int, holder: str,
                          seats: Sequence[str] | None) -> dict[str, int]:
        """The seats to book and each one's hold deadline (ms, Redis clock).

        All the caller holds, or exactly the named seats: a named seat whose
        hold expired refuses the checkout (``hold_expired``) rather than
        booking fewer seats than the buyer saw in the basket.
        """
        mine = (await self._engine.snapshot(showtime, holder)).mine
        if seats is None:
            if mine:
                return {s: mine[s] for s in sorted(mine)}
            lapsed = sorted(await self._engine.lapsed(showtime, holder))
            if lapsed:
                raise HoldExpired(f"your hold on {', '.join(lapsed)} has expired; pick the "
                                  "seats again", lapsed)
            raise NothingToBook("you hold no seats for this showtime")
        if not seats:
            raise NothingToBook("no seats named")
        missing = [s for s in seats if s not in mine]
        if missing:
            lately = await self._engine.lapsed(showtime, holder)
            expired = [s for s in missing if s in lately]
            if expired:
                raise HoldExpired(f"your hold on {', '.join(expired)} has expired; pick the "
                                  "seats again", expired)
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

    async def _check_orphans(self, showtime: int, seats: Sequence[str]) -> None:
        layout = await self._catalog.layout(showtime)
        if layout is None:
            raise UnknownShowtime(f"there is no showtime {showtime}")
        lone = await self._engine.orphans(showtime, seats, layout)
        if lone:
            raise WouldOrphan(
                f"your seats now leave {', '.join(lone)} alone (a seat next to them was "
                "released): choose other seats, or check out again with accept_orphans to "
                "keep these", lone)

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

    async def apply(self, provider: str, event: PaymentEvent, *,
                    remote: str | None = None) -> Booking:
        """Apply a verified payment event; safe to repeat and in any order.
        ``remote`` is where it came from, for the audit log."""
        outcome = await self._store.apply_event(provider, event, remote=remote)
        if outcome is None:
            await self._store.record_refused(provider, event, "unknown_order", remote)
            raise NotFound(f"unknown order {event.order_id}")
        log.info("payment event %s (%s) for order %s: %s", event.event_id, event.type,
                 event.order_id, outcome.result)
        if outcome.result == "mismatch":
            # We never book for the wrong money; support sees it in the audit log.
            await self._store.record_refused(provider, event, "amount_mismatch", remote)
            raise PaymentMismatch("payment amount or currency does not match the booking")
        await self._after(outcome, provider, event)
        return outcome.booking

    async def _after(self, outcome: EventOutcome, provider: str, event: PaymentEvent) -> None:
        """Tell Redis (and the provider) what PostgreSQL decided. A duplicate
        does it again: the first delivery may have failed right here (Redis
        down, a refund refused), and every step is idempotent."""
        booking, result = outcome.booking, outcome.result
        again = result in ("duplicate", "ignored")
        if booking.status == "booked" and (again or result in ("booked", "reacquired")):
            # PostgreSQL gave these seats to the booking; Redis follows.
            await self._engine.book(booking.showtime, booking.holder, booking.reference,
                                    booking.seat_ids, force=True)
        elif result == "expired":
            await self._engine.free(booking.showtime, booking.holder, booking.reference,
                                    booking.seat_ids, kind="release")
        elif booking.status == "cancelled" and again:
            await self._engine.free(booking.showtime, "", booking.reference,
                                    booking.seat_ids, kind="cancel")
        if result == "refund" or (again and booking.attention in REFUNDED_CAPTURES):
            log.warning("payment for %s that cannot book (%s): refunding", booking.reference,
                        booking.status)
            await self._refund(provider, event.order_id, booking.total.amount)

    async def _refund(self, provider: str, order_id: str, total: int) -> None:
        """Bring the order's refunded total up to ``total`` (asking twice refunds
        once); PaymentUnavailable, retryable, when the provider fails or hangs."""
        try:
            await asyncio.wait_for(self._gateways[provider].refund(order_id, total),
                                   self._timeout)
        except Exception as exc:  # TimeoutError included
            log.warning("payment provider %s could not refund order %s: %r", provider,
                        order_id, exc)
            raise PaymentUnavailable("the payment provider did not confirm the refund; "
                                     "nothing changed: try again shortly") from exc

    async def _expire(self, reference: str, reason: str) -> Booking | None:
        booking = await self._store.expire(reference, actor="system", reason=reason)
        if booking is not None:
            await self._engine.free(booking.showtime, booking.holder, booking.reference,
                                    booking.seat_ids, kind="release")
        return booking

    async def expire_due(self) -> int:
        """Expire pending bookings whose payment window has passed; returns how many.

        The provider is asked first (``lookup``, closing the order): a
        payment whose webhook was lost, or is still on its way, books rather
        than being expired and refunded later. A provider that does not
        answer does not keep the seats: the booking expires, and a capture
        that comes after is a late capture (reacquired or refunded)."""
        count = 0
        for reference in await self._store.due_pending():
            if await self._settle_by_lookup(reference):
                continue
            if await self._expire(reference, "payment window passed"):
                count += 1
        return count

    async def _settle_by_lookup(self, reference: str) -> bool:
        """Whether the provider's answer settled the booking (paid or ended)."""
        booking = await self._store.get(reference)
        if booking is None or booking.payment is None:
            return False
        provider, order_id = booking.payment.provider, booking.payment.order_id
        gateway = self._gateways.get(provider)
        if gateway is None:
            return False
        try:
            event = await asyncio.wait_for(gateway.lookup(order_id, close=True), self._timeout)
            if event is None:
                return False
            settled = await self.apply(provider, event)
        except Exception as exc:  # TimeoutError included
            log.warning("looking up order %s of %s at %s failed: %r", order_id, reference,
                        provider, exc)
            return False
        return settled.status != "pending"

    async def cancel(self, reference: str, *, user_id: int, remote: str | None) -> Booking:
        """Cancel a booked booking before the cut-off, refunding what the
        policy gives at this moment (see ``RefundPolicy``)."""
        booking = await self._store.get(reference)
        if booking is None or booking.user_id != user_id:
            raise NotFound(f"no booking {reference}")
        refund = await self._policy_refund(booking)
        if refund is None:
            raise CancelClosed("cancellation closed: the show starts too soon")
        return await self._cancel(booking, refund, actor_id=user_id, remote=remote)

    async def cancel_as_admin(self, reference: str, *, admin_id: int, remote: str | None,
                              refund: int | None, reason: str,
                              approve: Callable[[int], None] | None = None) -> Booking:
        """Cancel for support: the buyer's cut-off does not apply. ``refund``
        (minor units, up to the total) overrides the policy's amount; left out,
        the policy's amount is refunded, or nothing once the policy would have
        refused. The audit row says whether the cut-off was bypassed.
        ``approve`` sees the amount before anything changes, and may refuse it."""
        booking = await self._store.get(reference)
        if booking is None:
            raise NotFound(f"no booking {reference}")
        policy = await self._policy_refund(booking)
        amount = (policy or 0) if refund is None else refund
        if amount > booking.total.amount:
            raise InvalidInput(f"refund: at most the booking's total, {booking.total.amount}")
        if amount > 0 and booking.payment is None:
            raise InvalidInput("refund: this booking has no payment to refund")
        if approve is not None:
            approve(amount)
        note = {"by_admin": True, "reason": reason, "policy_refund": policy,
                "bypassed_cutoff": policy is None}
        return await self._cancel(booking, amount, actor_id=admin_id, remote=remote, note=note)

    async def _policy_refund(self, booking: Booking) -> int | None:
        """What the policy refunds now (None: past the cut-off); ``cancel_closed``
        for a booking that cannot be cancelled at all."""
        sale = await self._store.sale(booking.showtime)
        assert sale is not None
        if booking.status == "cancelled":
            # Asked again, maybe because freeing the seats failed the first
            # time: free them (idempotent) before saying it is done already.
            await self._engine.free(booking.showtime, "", booking.reference,
                                    booking.seat_ids, kind="cancel")
        if booking.status != "booked":
            raise CancelClosed(f"a {booking.status} booking cannot be cancelled")
        if await self._store.admission(booking.reference) is not None:
            raise CancelClosed("the ticket was already used at the door")
        return self._refunds.refund(booking.total.amount, starts_at=sale.starts_at,
                                    now=datetime.now(UTC))

    async def _cancel(self, booking: Booking, refund: int, *, actor_id: int,
                      remote: str | None, note: dict[str, Any] | None = None) -> Booking:
        paid = booking.payment
        if paid is not None and refund > 0 and paid.provider in self._gateways:
            # Refund first: a refund that fails leaves the booking as it was. The
            # amount is the order's refunded total, so a racing cancel refunds once.
            # A counter sale's money (seatserver/house) is given back at the counter:
            # no provider to ask, the refund is recorded as for any other.
            await self._refund(paid.provider, paid.order_id, refund)
        try:
            cancelled = await self._store.cancel(booking.reference, user_id=actor_id,
                                                 refund=refund, remote=remote, note=note)
        except LookupError:
            raise CancelClosed("the booking changed meanwhile; look again") from None
        await self._engine.free(cancelled.showtime, cancelled.holder, cancelled.reference,
                                cancelled.seat_ids, kind="cancel")
        return cancelled
