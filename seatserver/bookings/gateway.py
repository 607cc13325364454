"""The payment gateway interface checkout talks to, whatever the provider.

A provider hosts the checkout page: checkout creates an order and sends the
buyer to ``checkout_url``; the outcome comes back twice, as a signed return
(the buyer's browser) and as signed webhooks (the provider's servers, at least
once, in any order). Both become a ``PaymentEvent``; checkout applies events
idempotently, so it does not matter which arrives first, or how often.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

EventType = Literal["captured", "failed", "expired", "refunded"]


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    # Where the buyer pays (absolute, or a path on this server).
    checkout_url: str


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    """A verified statement from the provider about one order."""

    event_id: str  # the provider's id: the deduplication key
    type: EventType
    order_id: str
    amount: int
    currency: str
    payment_id: str | None
    raw: str  # the body (or query) as received, kept for support


class PaymentGateway(Protocol):
    """Contract: ``verify_return`` and ``parse_webhook`` raise ``BadSignature``
    for anything not provably from the provider (forged, unsigned or stale);
    they return None for what is genuine but states no payment fact (a buyer
    back from the page without paying, an event type we do not act on).
    ``lookup`` asks the provider for an order's outcome now (None: none yet);
    with ``close`` it first ends an open order, so nobody pays for it after
    we gave up; the pending expirer asks it before expiring a booking whose
    webhook never came.
    ``refund(order_id, amount)`` brings the order's refunded total up to
    ``amount`` (full or partial): repeating or racing it refunds once, and an
    adapter for a provider that refunds by increments sends the difference
    under an idempotency key made of the order and that total."""

    name: str

    async def create_order(self, *, reference: str, amount: int, currency: str,
                           return_url: str, webhook_url: str,
                           expires_at: datetime) -> Order: ...

    async def verify_return(self, query: Mapping[str, str]) -> PaymentEvent | None: ...

    def parse_webhook(self, headers: Mapping[str, str],
                      body: bytes) -> PaymentEvent | None: ...

    async def lookup(self, order_id: str, *, close: bool) -> PaymentEvent | None: ...

    async def capture(self, order_id: str) -> None: ...

    async def refund(self, order_id: str, amount: int) -> None: ...


def sign(secret: str, message: str) -> str:
    """Hex HMAC-SHA256 of ``message``."""
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def signature_matches(secret: str, message: str, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, message), signature)


def signed_by_any(secrets: Sequence[str], message: str, signature: str) -> bool:
    """Whether one of ``secrets`` (the current key, keys in their grace) made it."""
    return any(signature_matches(s, message, signature) for s in secrets)
