"""Stripe behind the PaymentGateway interface: Checkout Sessions, hosted by Stripe.

A Checkout Session is the closest thing Stripe has to the simulated
provider's order: one object with a hosted page (``url``), a redirect back to
us when paid (``success_url``), an end of its own (``expires_at``, or
``POST /v1/checkout/sessions/{id}/expire``) and events named after it. A bare
PaymentIntent would need a page of our own with Stripe.js to confirm it.

Facts come by three channels and become one fact each (``payment_events``,
one row per order and fact): the webhook (``checkout.session.completed``,
``…async_payment_succeeded/failed``, ``…expired``, deduplicated by Stripe's
event id), the buyer's return (``success_url?session_id=…``, which proves
nothing by itself: the session is read back from Stripe) and ``lookup``,
which the pending expirer asks before giving up on an order whose webhook
never came. Every call goes through the library's async client on our
aiohttp session, so no call blocks the event loop; every create call carries
an idempotency key, which the library's own retries (5xx, 409, connection
errors) send again unchanged. The exact calls and fields: docs/bookings.md.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import stripe

from seatserver.bookings.gateway import EventType, Order, PaymentEvent
from seatserver.errors import BadSignature, NotFound, PaymentUnavailable

log = logging.getLogger(__name__)

NAME = "stripe"
SIGNATURE_HEADER = "Stripe-Signature"
# Stripe lets a Checkout Session live between 30 minutes and 24 hours.
MIN_SESSION_S = 30 * 60 + 60
MAX_SESSION_S = 24 * 3600 - 60
_SESSION_ID = re.compile(r"^cs_[A-Za-z0-9_]{1,250}$")
_REFERENCE = re.compile(r"^[A-Za-z0-9]{1,32}$")

# Stripe's amounts are in the currency's smallest unit, as ours are (ISO 4217
# minor units) for two- and zero-decimal currencies alike (EUR 1250 = €12.50,
# JPY 1250 = ¥1250). Stripe departs from ISO for these: it wants ISK, HUF,
# TWD and UGX in hundredths of units where ISO has none or counts otherwise,
# and three-decimal amounts ending in 0. Those are refused rather than guessed.
_UNLIKE_ISO = frozenset({"ISK", "HUF", "TWD", "UGX"})
_THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})

# Session events that state an order's outcome; anything else is acknowledged.
_SESSION_EVENTS: dict[str, EventType] = {
    "checkout.session.async_payment_succeeded": "captured",
    "checkout.session.async_payment_failed": "failed",
    "checkout.session.expired": "expired",
}


def stripe_amount(amount: int, currency: str) -> int:
    """Our minor units as Stripe's ``unit_amount``; ValueError for a currency
    whose Stripe unit is not its ISO minor unit."""
    code = currency.upper()
    if code in _UNLIKE_ISO:
        raise ValueError(f"{code}: Stripe counts it in other units than ISO 4217; "
                         "not supported by this adapter")
    if code in _THREE_DECIMAL and amount % 10:
        raise ValueError(f"{code}: Stripe takes three-decimal amounts ending in 0")
    return amount


def session_expiry(deadline: datetime, now: datetime) -> int:
    """``expires_at`` for a session: our payment deadline, within what Stripe
    allows. A deadline sooner than 30 minutes is kept by expiring the session
    ourselves (``lookup(close=True)`` from the pending expirer)."""
    earliest, latest = now + timedelta(seconds=MIN_SESSION_S), now + timedelta(
        seconds=MAX_SESSION_S)
    return int(min(max(deadline, earliest), latest).timestamp())


class StripeGateway:
    """Our side of Stripe: sessions, refunds, verified events."""

    name = NAME

    def __init__(self, client: stripe.StripeClient, *, webhook_secret: str,
                 tolerance_s: int) -> None:
        self._client = client
        self._webhook_secret = webhook_secret
        self._tolerance = tolerance_s

    async def create_order(self, *, reference: str, amount: int, currency: str,
                           return_url: str, webhook_url: str,
                           expires_at: datetime) -> Order:
        # webhook_url is registered with Stripe once (docs/operations.md), not per order.
        params: dict[str, Any] = {
            "mode": "payment",
            "payment_method_types": ["card"],
            "line_items": [{"quantity": 1, "price_data": {
                "currency": currency.lower(), "unit_amount": stripe_amount(amount, currency),
                "product_data": {"name": f"Booking {reference}"}}}],
            "client_reference_id": reference,
            "metadata": {"reference": reference},
            "payment_intent_data": {"metadata": {"reference": reference}},
            "success_url": f"{return_url}?session_id={{CHECKOUT_SESSION_ID}}",
            "cancel_url": f"{return_url}?reference={reference}&cancelled=1",
            "expires_at": session_expiry(expires_at, datetime.now(UTC)),
        }
        session = await self._client.v1.checkout.sessions.create_async(
            params,  # type: ignore[arg-type]
            {"idempotency_key": f"seatserver-session-{reference}"})
        if not session.url:
            raise PaymentUnavailable("Stripe created a session without a payment page")
        return Order(session.id, session.url)

    async def verify_return(self, query: Mapping[str, str]) -> PaymentEvent | None:
        """The buyer back from Stripe. ``success_url`` names the session, which
        is read back from Stripe (the query proves nothing); ``cancel_url``
        (the page's back link) states no fact: the session stays payable until
        it expires, and the pending expirer closes it at our deadline."""
        if query.get("cancelled") == "1":
            if not _REFERENCE.match(query.get("reference", "")):
                raise BadSignature("malformed return: reference")
            return None
        session_id = query.get("session_id", "")
        if not _SESSION_ID.match(session_id):
            raise BadSignature("malformed return: session_id is not a Checkout Session id")
        session = await self._session(session_id)
        return _session_fact(session, f"return:{session_id}")

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> PaymentEvent | None:
        try:
            stripe.Webhook.construct_event(body, headers.get(SIGNATURE_HEADER),
                                           self._webhook_secret, self._tolerance)
        except stripe.SignatureVerificationError as err:
            raise BadSignature(f"webhook signature does not verify: {_first_line(err)}") \
                from None
        except (ValueError, TypeError, KeyError, AttributeError):
            # Signed by Stripe's secret yet not an event: refused, not guessed at.
            raise BadSignature("malformed webhook: not a Stripe event") from None
        # The library's Event is no dict; the same verified JSON, read plainly.
        event = json.loads(body)
        data = event.get("data") if isinstance(event, dict) else None
        obj = data.get("object") if isinstance(data, dict) else None
        kind = event.get("type") if isinstance(event, dict) else None
        if not isinstance(obj, dict) or not isinstance(kind, str) \
                or not isinstance(event.get("id"), str):
            raise BadSignature("malformed webhook: not a Stripe event")
        metadata = obj.get("metadata")
        if not isinstance(metadata, dict) or "reference" not in metadata:
            return None  # a session some other integration on the account made
        try:
            if kind == "checkout.session.completed":
                # Card payments are paid on completion; delayed methods say
                # so later (async_payment_succeeded).
                return _session_fact(obj, event["id"], body.decode())
            if kind in _SESSION_EVENTS:
                return _event(event["id"], _SESSION_EVENTS[kind], obj, body.decode())
        except (KeyError, TypeError, ValueError):
            raise BadSignature(f"malformed webhook: {kind[:60]!r} without a Checkout "
                               "Session") from None
        return None

    async def lookup(self, order_id: str, *, close: bool) -> PaymentEvent | None:
        """The session's outcome as Stripe has it now; with ``close``, an open
        session is expired first, so nobody can pay for it after we gave up."""
        session = await self._session(order_id)
        if close and session.status == "open":
            try:
                session = await self._client.v1.checkout.sessions.expire_async(order_id)
            except stripe.InvalidRequestError:
                session = await self._session(order_id)  # paid meanwhile
        return _session_fact(session, f"lookup:{order_id}")

    async def capture(self, order_id: str) -> None:
        """Capture an authorised payment; sessions we create capture on
        payment (``capture_method`` automatic), so there is usually nothing."""
        session = await self._session(order_id, expand=["payment_intent"])
        intent = session.payment_intent
        if isinstance(intent, stripe.PaymentIntent) and intent.status == "requires_capture":
            await self._client.v1.payment_intents.capture_async(
                intent.id, options={"idempotency_key": f"seatserver-capture-{order_id}"})

    async def refund(self, order_id: str, amount: int) -> None:
        """Bring the refunded total up to ``amount``: Stripe refunds by
        increments, so the difference is sent under a key made of the order
        and that total; a racing or repeated call sends the same key."""
        session = await self._session(order_id, expand=["payment_intent.latest_charge"])
        intent = session.payment_intent
        if not isinstance(intent, stripe.PaymentIntent):
            raise PaymentUnavailable(f"Stripe has no payment for {order_id} to refund")
        charge = intent.latest_charge
        refunded = charge.amount_refunded if isinstance(charge, stripe.Charge) else 0
        if amount <= refunded:
            return
        await self._client.v1.refunds.create_async(
            {"payment_intent": intent.id, "amount": amount - refunded,
             "metadata": {"order": order_id, "refunded_total": str(amount)}},
            {"idempotency_key": f"seatserver-refund-{order_id}-{amount}"})

    async def _session(self, session_id: str,
                       expand: list[str] | None = None) -> stripe.checkout.Session:
        try:
            return await self._client.v1.checkout.sessions.retrieve_async(
                session_id, {"expand": expand} if expand else None)
        except stripe.InvalidRequestError as err:
            if err.http_status == 404:
                raise NotFound(f"Stripe knows no Checkout Session {session_id}") from None
            raise _unavailable(err) from err
        except stripe.StripeError as err:  # down, rate-limited, a key it refuses
            raise _unavailable(err) from err


def _session_fact(session: Any, event_id: str, raw: str | None = None) -> PaymentEvent | None:
    """What a session's state says, if it says anything final yet."""
    if session["status"] == "complete" and session["payment_status"] in (
            "paid", "no_payment_required"):
        kind: EventType = "captured"
    elif session["status"] == "expired":
        kind = "expired"
    else:
        return None  # open, or complete with a delayed payment still under way
    return _event(event_id if raw else f"{event_id}:{kind}", kind, session,
                  raw or json.dumps({"session": session["id"], "status": session["status"],
                                     "payment_status": session["payment_status"]}))


def _event(event_id: str, kind: EventType, session: Any, raw: str) -> PaymentEvent:
    if session["object"] != "checkout.session" or not isinstance(session["id"], str):
        raise ValueError("not a Checkout Session")
    amount, currency = session["amount_total"], session["currency"]
    if not isinstance(amount, int) or not isinstance(currency, str):
        raise ValueError("a Checkout Session without amount_total or currency")
    intent = session["payment_intent"]
    if intent is not None and not isinstance(intent, str):
        intent = str(intent["id"])
    return PaymentEvent(event_id=event_id, type=kind, order_id=session["id"],
                        amount=amount, currency=currency.upper(), payment_id=intent, raw=raw)


def _unavailable(err: stripe.StripeError) -> PaymentUnavailable:
    # Stripe's messages mask keys ("sk_test_****"); ours never hold one.
    log.warning("Stripe call failed: %s %s", type(err).__name__, _first_line(err))
    return PaymentUnavailable("the payment provider is not answering; if you paid, the "
                              "payment is confirmed as soon as it answers: try again shortly")


def _first_line(err: Exception) -> str:
    return str(err).split("\n", 1)[0][:200]


def stripe_client(session: aiohttp.ClientSession, *, secret_key: str, api_base: str | None,
                  timeout_s: float, retries: int = 2) -> stripe.StripeClient:
    """The library's client on our aiohttp session: async all the way, so a
    slow Stripe holds no thread and no event loop. Its retries (5xx, 409,
    connection errors; a 429 only when Stripe says ``Stripe-Should-Retry``)
    resend the same idempotency key."""
    http_client = stripe.AIOHTTPClient(session=session,
                                       timeout=aiohttp.ClientTimeout(total=timeout_s))
    return stripe.StripeClient(secret_key, http_client=http_client,
                               max_network_retries=retries,
                               base_addresses={"api": api_base} if api_base else None)
