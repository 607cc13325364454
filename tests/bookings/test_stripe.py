"""The Stripe adapter, end to end against a local stand-in that speaks Stripe's
HTTP API and sends Stripe-signed webhooks (tests/bookings/stripe_standin.py):
the buyer's whole flow, declines and abandons, refunds, retries, lost,
doubled, reordered, forged and hostile webhooks. One payment fact per order
and outcome, whichever channel brings it."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from seatserver.bookings.stripe_gateway import (
    StripeGateway,
    session_expiry,
    stripe_amount,
    stripe_client,
)
from seatserver.loadgen.client import SeatClient
from seatserver.settings import Settings, SettingsError
from tests.bookings.conftest import Buyer
from tests.bookings.stripe_standin import StripeStandIn
from tests.realtime.conftest import ServerFactory
from tests.support import eventually

API_KEY = "sk_test_" + "standin0" * 3
WEBHOOK_SECRET = "whsec_" + "standin1" * 4
BuyerFactory = Callable[..., Awaitable[Buyer]]


@pytest.fixture
async def standin() -> AsyncIterator[StripeStandIn]:
    stand_in = StripeStandIn(api_key=API_KEY, webhook_secret=WEBHOOK_SECRET)
    server = TestServer(stand_in.app(), host="127.0.0.1")
    await server.start_server()
    stand_in.origin = str(server.make_url("/")).rstrip("/")
    yield stand_in
    await server.close()


@pytest.fixture
async def stripe_server(make_server: ServerFactory, standin: StripeStandIn,
                        demo: list[int]) -> Callable[..., Awaitable[str]]:
    """Starts a server taking payments with Stripe (the stand-in); its base URL."""
    async def start(**overrides: Any) -> str:
        server = await make_server(payment_provider="stripe", stripe_secret_key=API_KEY,
                                   stripe_webhook_secret=WEBHOOK_SECRET,
                                   stripe_api_base=standin.origin, **overrides)
        url = str(server.make_url("/")).rstrip("/")
        standin.webhook_url = f"{url}/api/payments/stripe/webhook"
        return url
    return start


@pytest.fixture
def seats() -> list[str]:
    """Seats of the demo layout, known without asking a server: the suite's own
    ``seats`` starts a server without Stripe, and its pending expirer, not able
    to ask Stripe, would race ours to expire the bookings of these tests."""
    return ["A1", "A2", "A3", "A4"]


@pytest.fixture
async def buyer(stripe_server: Callable[..., Awaitable[str]],
                buyer_at: BuyerFactory) -> Buyer:
    return await buyer_at(await stripe_server())


async def _hold(buyer: Buyer, showtime: int, seats: list[str]) -> None:
    client = await SeatClient(buyer.http, buyer.base, buyer.token).connect()
    try:
        assert (await client.hold(showtime, seats))["ok"] is True
    finally:
        await client.close()


async def _pending(buyer: Buyer, showtime: int, seats: list[str]) -> Any:
    await _hold(buyer, showtime, seats)
    status, booking = await buyer.checkout(showtime, secrets.token_hex(4))
    assert status == 201, booking
    return booking


def _session_id(booking: Any) -> str:
    return str(booking["payment"]["order_id"])


async def _click(buyer: Buyer, booking: Any, action: str) -> tuple[int, str]:
    """A button on the hosted page: its status and where it sends the browser."""
    async with buyer.http.post(f"{booking['checkout_url']}/{action}",
                               allow_redirects=False) as resp:
        return resp.status, resp.headers.get("Location", "")


async def _back(buyer: Buyer, location: str) -> tuple[int, Any]:
    """The browser following Stripe's redirect to our return URL."""
    async with buyer.http.get(location, headers=buyer.auth, allow_redirects=False) as resp:
        body = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, body or resp.headers.get("Location")


async def _facts(db_pool: asyncpg.Pool, order_id: str) -> list[tuple[str, str | None]]:
    async with db_pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT event_id, fact FROM payment_events WHERE provider = 'stripe' "
            "AND order_id = $1 ORDER BY id", order_id)
    return [(r["event_id"], r["fact"]) for r in rows]


async def _audits(db_pool: asyncpg.Pool, action: str) -> int:
    async with db_pool.acquire() as conn:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = $1", action)
    return count


async def test_buyer_pays_on_the_hosted_page_and_is_booked_once(
        buyer: Buyer, standin: StripeStandIn, showtime: int, seats: list[str],
        db_pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the stripe library's request logs too
    booking = await _pending(buyer, showtime, seats[:2])
    assert booking["payment"]["provider"] == "stripe"
    assert booking["checkout_url"].startswith(f"{standin.origin}/c/pay/cs_test_")
    session = standin.sessions[_session_id(booking)]
    assert (session["amount_total"], session["currency"]) == (
        booking["total"]["amount"], booking["total"]["currency"].lower())
    assert session["client_reference_id"] == booking["reference"]
    create = [c for c in standin.calls if c[1] == "/v1/checkout/sessions"]
    assert create == [("POST", "/v1/checkout/sessions",
                       f"seatserver-session-{booking['reference']}")]

    status, location = await _click(buyer, booking, "pay")
    assert status == 303
    assert location.startswith(f"{buyer.base}/api/payments/stripe/return?session_id=cs_")
    assert await _back(buyer, location) == (303, f"/bookings/{booking['reference']}")
    assert (await buyer.booking(booking["reference"]))["status"] == "booked"

    await standin.settled()  # checkout.session.completed came too: a duplicate fact
    assert [s for _, s in standin.deliveries] == [200]
    # Whichever came first (the return or the webhook) is the one fact.
    [(first, fact)] = await _facts(db_pool, _session_id(booking))
    assert fact == "captured"
    assert first in (f"return:{_session_id(booking)}:captured", standin.events[-1]["id"])
    assert await _audits(db_pool, "booking.booked") == 1
    _no_secret_logged(caplog)


def _no_secret_logged(caplog: pytest.LogCaptureFixture) -> None:
    assert caplog.records, "nothing was logged: the check below would prove nothing"
    for record in caplog.records:
        text = record.getMessage() + str(record.exc_info or "")
        assert API_KEY not in text and WEBHOOK_SECRET not in text, text


async def test_the_webhook_alone_books_when_the_buyer_never_comes_back(
        buyer: Buyer, standin: StripeStandIn, showtime: int, seats: list[str],
        db_pool: asyncpg.Pool) -> None:
    booking = await _pending(buyer, showtime, seats[:1])
    standin.pay(_session_id(booking))  # paid, then the browser was closed
    await standin.settled()
    assert (await buyer.booking(booking["reference"]))["status"] == "booked"
    event = standin.events[-1]
    assert await _facts(db_pool, _session_id(booking)) == [(event["id"], "captured")]
    # The buyer's return, late: the same fact, nothing more.
    assert await _back(buyer, f"{buyer.base}/api/payments/stripe/return?session_id="
                       f"{_session_id(booking)}") == (303, f"/bookings/{booking['reference']}")
    assert len(await _facts(db_pool, _session_id(booking))) == 1


async def test_duplicate_and_replayed_events_make_one_fact(
        buyer: Buyer, standin: StripeStandIn, showtime: int, seats: list[str],
        db_pool: asyncpg.Pool) -> None:
    standin.duplicate = True
    booking = await _pending(buyer, showtime, seats[:1])
    standin.pay(_session_id(booking))
    await standin.settled()
    completed = standin.events[-1]
    for _ in range(3):  # Stripe's own retries and a manual "resend" of the event
        assert await standin.send(completed) == 200
    assert [s for _, s in standin.deliveries] == [200, 200]
    assert await _facts(db_pool, _session_id(booking)) == [(completed["id"], "captured")]
    assert await _audits(db_pool, "booking.booked") == 1


async def test_events_out_of_order_still_book_once(
        buyer: Buyer, standin: StripeStandIn, showtime: int, seats: list[str],
        db_pool: asyncpg.Pool) -> None:
    standin.lose_webhooks = True  # held back, delivered below in the wrong order
    booking = await _pending(buyer, showtime, seats[:1])
    standin.pay(_session_id(booking))
    failed = standin.emit("payment_intent.payment_failed", {"id": "pi_x",
                                                             "object": "payment_intent"})
    completed = next(e for e in standin.events if e["type"] == "checkout.session.completed")
    assert await standin.send(failed) == 200  # not a fact about the order: acknowledged
    assert await standin.send(completed) == 200
    assert await standin.send(failed) == 200
    assert (await buyer.booking(booking["reference"]))["status"] == "booked"
    assert await _facts(db_pool, _session_id(booking)) == [(completed["id"], "captured")]


def _completed_event(standin: StripeStandIn, booking: Any) -> dict[str, Any]:
    session = dict(standin.sessions[_session_id(booking)], status="complete",
                   payment_status="paid", payment_intent="pi_forged")
    session.pop("intent_metadata")
    return {"id": "evt_forged", "object": "event", "type": "checkout.session.completed",
            "created": int(time.time()), "data": {"object": session}}


@pytest.mark.parametrize("case", ["other secret", "stale", "future-less header", "no header",
                                  "v0 only", "empty signature"])
async def test_forged_or_stale_webhooks_are_refused_with_400(
        buyer: Buyer, standin: StripeStandIn, showtime: int, seats: list[str],
        db_pool: asyncpg.Pool, case: str) -> None:
    booking = await _pending(buyer, showtime, seats[:1])
    event = json.dumps(_completed_event(standin, booking)).encode()
    url = standin.webhook_url
    assert url is not None
    headers = {"other secret": None, "stale": None, "future-less header": "t=abc,v1=00",
               "no header": "", "v0 only": f"t={int(time.time())},v0=00",
               "empty signature": f"t={int(time.time())},v1="}[case]
    secret = "whsec_" + "x" * 32 if case == "other secret" else None
    at = int(time.time()) - 301 if case == "stale" else None
    if headers == "":
        async with buyer.http.post(url, data=event) as resp:
            status, answer = resp.status, await resp.json()
    else:
        async with buyer.http.post(url, data=event, headers={
                "Stripe-Signature": headers or _signed(event, secret, at)}) as resp:
            status, answer = resp.status, await resp.json()
    assert (status, answer["error"]["code"]) == (400, "bad_signature"), answer
    assert (await buyer.booking(booking["reference"]))["status"] == "pending"
    assert await _facts(db_pool, _session_id(booking)) == []
    assert await _audits(db_pool, "payment.forged_webhook") == 1


def _signed(body: bytes, secret: str | None, at: int | None) -> str:
    from tests.bookings.stripe_standin import signature
    return signature(secret or WEBHOOK_SECRET, body, int(time.time()) if at is None else at)


@pytest.mark.parametrize("body", [
    b"\x00\x00\x00", b'{"id": "evt_1", "type": "checkout.session.completed"\x00}',
    b"not json at all", b"\xff\xfe invalid utf-8", b"[]", b'"a string"',
    b'{"id": "evt_1", "object": "event", "type": "checkout.session.completed", '
    b'"data": {"object": {"object": "charge", "metadata": {"reference": "ABC"}}}}',
    b'{"id": "evt_1", "object": "event", "type": "checkout.session.expired", '
    b'"data": {"object": {"object": "checkout.session", "id": "cs_1", "amount_total": "7", '
    b'"currency": "eur", "payment_intent": null, "metadata": {"reference": "ABC"}}}}',
    b'{"id": "evt_1", "object": "event", "type": "checkout.session.expired", "data": 7}',
])
async def test_hostile_webhook_bodies_signed_correctly_are_refused_with_400(
        buyer: Buyer, standin: StripeStandIn, body: bytes) -> None:
    assert standin.webhook_url is not None
    async with buyer.http.post(standin.webhook_url, data=body, headers={
            "Stripe-Signature": _signed(body, None, None)}) as resp:
        answer = await resp.json()
    if b"\x00" in body:  # refused at the edge, for every route alike
        assert (resp.status, answer["error"]["code"]) == (400, "bad_request"), answer
        assert "NUL" in answer["error"]["message"]
    else:
        assert (resp.status, answer["error"]["code"]) == (400, "bad_signature"), answer
        assert "malformed webhook" in answer["error"]["message"]


async def test_a_huge_webhook_body_is_refused_before_it_is_read(
        buyer: Buyer, standin: StripeStandIn) -> None:
    assert standin.webhook_url is not None
    body = b'{"id": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    async with buyer.http.post(standin.webhook_url, data=io.BytesIO(body), headers={
            "Stripe-Signature": _signed(body, None, None)}) as resp:
        assert resp.status == 413


async def test_a_return_that_stripe_does_not_confirm_is_refused(
        buyer: Buyer, standin: StripeStandIn, showtime: int, seats: list[str]) -> None:
    booking = await _pending(buyer, showtime, seats[:1])
    base = f"{buyer.base}/api/payments/stripe/return"
    # Not paid: the session is read back from Stripe, whatever the URL says.
    assert (await _back(buyer, f"{base}?session_id={_session_id(booking)}"))[0] == 404
    assert (await _back(buyer, f"{base}?session_id=cs_test_unknown"))[0] == 404
    status, answer = await _back(buyer, f"{base}?session_id=x%00y")
    assert (status, answer["error"]["code"]) == (400, "bad_request")
    for query in ("session_id=cs_x%20y", "session_id=" + "cs_" + "a" * 300, "",
                  "cancelled=1&reference=no%20such", "cancelled=1"):
        status, answer = await _back(buyer, f"{base}?{query}")
        assert (status, answer["error"]["code"]) == (400, "bad_signature"), query
    assert (await buyer.booking(booking["reference"]))["status"] == "pending"


async def test_a_return_while_stripe_fails_answers_503_and_the_webhook_books(
        buyer: Buyer, standin: StripeStandIn, showtime: int, seats: list[str]) -> None:
    booking = await _pending(buyer, showtime, seats[:1])
    standin.lose_webhooks = True
    status, location = await _click(buyer, booking, "pay")
    standin.faults = ["500"] * 3  # the first try and the library's two retries
    status, answer = await _back(buyer, location)
    assert (status, answer["error"]["code"]) == (503, "payment_unavailable"), answer
    assert "if you paid" in answer["error"]["message"]
    assert await standin.send(standin.events[-1]) == 200
    assert (await buyer.booking(booking["reference"]))["status"] == "booked"


async def test_sessions_another_integration_made_are_acknowledged_and_ignored(
        buyer: Buyer, standin: StripeStandIn, showtime: int, seats: list[str],
        db_pool: asyncpg.Pool) -> None:
    booking = await _pending(buyer, showtime, seats[:1])
    event = _completed_event(standin, booking)
    event["data"]["object"]["metadata"] = {}
    assert await standin.send(event) == 200
    assert (await buyer.booking(booking["reference"]))["status"] == "pending"
    assert await _facts(db_pool, _session_id(booking)) == []


async def test_a_declined_card_and_back_leave_the_order_until_the_window_closes(
        stripe_server: Callable[..., Awaitable[str]], buyer_at: BuyerFactory,
        standin: StripeStandIn, showtime: int, seats: list[str],
        db_pool: asyncpg.Pool) -> None:
    buyer = await buyer_at(await stripe_server(payment_window_s=3))
    booking = await _pending(buyer, showtime, seats[:1])
    status, location = await _click(buyer, booking, "decline")
    assert (status, location) == (303, f"/c/pay/{_session_id(booking)}?declined=1")
    # Stripe keeps the session open after a decline: the buyer may try another card.
    assert standin.sessions[_session_id(booking)]["status"] == "open"
    status, location = await _click(buyer, booking, "back")
    assert status == 303 and "cancelled=1" in location
    assert await _back(buyer, location) == (303, f"/bookings/{booking['reference']}")
    assert (await buyer.booking(booking["reference"]))["status"] == "pending"

    # At the deadline the expirer closes the session at Stripe, then expires.
    async def expired() -> bool:
        return bool((await buyer.booking(booking["reference"]))["status"] == "expired")
    await eventually(expired, within=10)
    assert standin.sessions[_session_id(booking)]["status"] == "expired"
    await standin.settled()
    facts = await _facts(db_pool, _session_id(booking))
    assert [f for _, f in facts] == ["expired"]
    # Too late to pay now: Stripe's page says so.
    assert standin.pay(_session_id(booking))["status"] == "expired"


async def test_a_payment_whose_webhook_was_lost_is_found_at_the_deadline(
        stripe_server: Callable[..., Awaitable[str]], buyer_at: BuyerFactory,
        standin: StripeStandIn, showtime: int, seats: list[str],
        db_pool: asyncpg.Pool) -> None:
    buyer = await buyer_at(await stripe_server(payment_window_s=2))
    standin.lose_webhooks = True
    booking = await _pending(buyer, showtime, seats[:1])
    standin.pay(_session_id(booking))  # paid; webhook lost, browser closed

    async def booked() -> bool:
        return bool((await buyer.booking(booking["reference"]))["status"] == "booked")
    await eventually(booked, within=10)
    assert await _facts(db_pool, _session_id(booking)) == [
        (f"lookup:{_session_id(booking)}:captured", "captured")]
    assert standin.sessions[_session_id(booking)]["status"] == "complete"
    # The webhook, finally delivered, changes nothing.
    assert await standin.send(standin.events[-1]) == 200
    assert len(await _facts(db_pool, _session_id(booking))) == 1


async def test_stripe_down_at_the_deadline_expires_and_a_later_payment_reacquires(
        stripe_server: Callable[..., Awaitable[str]], buyer_at: BuyerFactory,
        standin: StripeStandIn, showtime: int, seats: list[str],
        db_pool: asyncpg.Pool) -> None:
    buyer = await buyer_at(await stripe_server(payment_window_s=2))
    booking = await _pending(buyer, showtime, seats[:1])
    standin.faults = ["500"] * 1000  # the lookup cannot ask, nor close the session

    async def expired() -> bool:
        return bool((await buyer.booking(booking["reference"]))["status"] == "expired")
    await eventually(expired, within=15)
    standin.faults = []
    # The session stayed open at Stripe: a payment now is a late capture,
    # and the seat, still free, is taken back.
    standin.pay(_session_id(booking))
    await standin.settled()
    again = await buyer.booking(booking["reference"])
    assert (again["status"], again["attention"]) == ("booked", "late_payment_reacquired")
    assert [f for _, f in await _facts(db_pool, _session_id(booking))] == ["captured"]


@pytest.mark.parametrize(("starts", "share"), [(timedelta(days=3), 1.0),
                                               (timedelta(hours=5), 0.5)])
async def test_cancelling_refunds_through_stripe_in_full_or_in_part(
        buyer: Buyer, standin: StripeStandIn, showtime: int, seats: list[str],
        starts_in: Callable[[timedelta], Awaitable[None]], starts: timedelta,
        share: float) -> None:
    await starts_in(starts)
    booking = await _pending(buyer, showtime, seats[:2])
    standin.pay(_session_id(booking))
    await standin.settled()
    status, cancelled = await buyer.call("POST", f"/api/bookings/{booking['reference']}/cancel")
    assert status == 200, cancelled
    total = booking["total"]["amount"]
    refund = int(total * share)
    assert [r["amount"] for r in standin.refunds] == [refund]
    key = f"seatserver-refund-{_session_id(booking)}-{refund}"
    assert ("POST", "/v1/refunds", key) in standin.calls
    await standin.settled()
    assert [s for _, s in standin.deliveries][-1] == 200  # charge.refunded: acknowledged


async def test_refunds_bring_the_total_up_once_however_often_asked(
        standin: StripeStandIn) -> None:
    async with aiohttp.ClientSession() as session:
        gateway = StripeGateway(
            stripe_client(session, secret_key=API_KEY, api_base=standin.origin,
                          timeout_s=5), webhook_secret=WEBHOOK_SECRET, tolerance_s=300)
        order = await gateway.create_order(
            reference="REFUNDTEST", amount=2000, currency="EUR",
            return_url="http://shop.example/api/payments/stripe/return",
            webhook_url="http://shop.example/api/payments/stripe/webhook",
            expires_at=_in(minutes=10))
        standin.pay(order.order_id)
        await asyncio.gather(gateway.refund(order.order_id, 500),
                             gateway.refund(order.order_id, 500))
        await gateway.refund(order.order_id, 500)
        await gateway.refund(order.order_id, 2000)
        await gateway.refund(order.order_id, 2000)
        assert [r["amount"] for r in standin.refunds] == [500, 1500]
        # Capturing an order Stripe captured on payment asks nothing more.
        await gateway.capture(order.order_id)
        assert not [c for c in standin.calls if c[1].endswith("/capture")]


def _in(**delta: int) -> Any:
    from datetime import UTC, datetime
    return datetime.now(UTC) + timedelta(**delta)


async def test_a_lost_answer_is_retried_under_the_same_idempotency_key(
        buyer: Buyer, standin: StripeStandIn, showtime: int, seats: list[str]) -> None:
    standin.faults = ["lost"]  # Stripe made the session; its answer never came
    booking = await _pending(buyer, showtime, seats[:1])
    creates = [c for c in standin.calls if c[1] == "/v1/checkout/sessions"]
    assert len(creates) == 2 and creates[0] == creates[1]
    assert len(standin.sessions) == 1 and _session_id(booking) in standin.sessions


@pytest.mark.parametrize("fault", ["429", "500", "hang"])
async def test_stripe_failing_answers_payment_unavailable_and_keeps_the_holds(
        stripe_server: Callable[..., Awaitable[str]], buyer_at: BuyerFactory,
        standin: StripeStandIn, showtime: int, seats: list[str], fault: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    buyer = await buyer_at(await stripe_server(payment_timeout_s=1.5))
    standin.faults = [fault] * 4  # more than the library's retries
    await _hold(buyer, showtime, seats[:1])
    started = time.monotonic()
    status, answer = await buyer.checkout(showtime, secrets.token_hex(4))
    assert (status, answer["error"]["code"]) == (503, "payment_unavailable"), answer
    assert "nothing was charged" in answer["error"]["message"]
    assert time.monotonic() - started < 10
    standin.faults = []
    status, booking = await buyer.checkout(showtime, secrets.token_hex(4))
    assert status == 201, booking
    assert booking["payment"]["provider"] == "stripe"
    _no_secret_logged(caplog)


def test_amounts_are_minor_units_for_zero_and_two_decimal_currencies() -> None:
    assert stripe_amount(1250, "EUR") == 1250  # €12.50
    assert stripe_amount(1250, "jpy") == 1250  # ¥1250: zero-decimal, the same number
    assert stripe_amount(12340, "KWD") == 12340
    for amount, currency in ((12345, "KWD"), (100, "ISK"), (100, "HUF")):
        with pytest.raises(ValueError, match=currency):
            stripe_amount(amount, currency)


def test_sessions_live_between_thirty_minutes_and_a_day() -> None:
    now = _in()
    assert session_expiry(now + timedelta(minutes=10), now) == int(
        (now + timedelta(minutes=31)).timestamp())
    assert session_expiry(now + timedelta(hours=2), now) == int(
        (now + timedelta(hours=2)).timestamp())
    assert session_expiry(now + timedelta(days=3), now) == int(
        (now + timedelta(hours=24, minutes=-1)).timestamp())


def test_stripe_settings_are_checked_and_never_shown() -> None:
    with pytest.raises(SettingsError, match="needs SEATSERVER_STRIPE_SECRET_KEY"):
        Settings.from_env({"SEATSERVER_PAYMENT_PROVIDER": "stripe"})
    with pytest.raises(SettingsError, match="must be one of simulated, stripe"):
        Settings.from_env({"SEATSERVER_PAYMENT_PROVIDER": "paypal"})
    leaked = "pk_live_" + "s3cr3t" * 4
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"SEATSERVER_STRIPE_SECRET_KEY": leaked})
    assert "s3cr3t" not in str(refused.value)
    settings = Settings.from_env({"SEATSERVER_PAYMENT_PROVIDER": "Stripe",
                                  "SEATSERVER_STRIPE_SECRET_KEY": API_KEY,
                                  "SEATSERVER_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
                                  "SEATSERVER_STRIPE_API_BASE": "http://127.0.0.1:9"})
    assert settings.payment_provider == "stripe"
    assert API_KEY not in repr(settings) and WEBHOOK_SECRET not in repr(settings)
    assert Settings().payment_provider == "simulated"


async def test_the_simulated_provider_stays_the_default(
        buyer_at: BuyerFactory, base_url: str, showtime: int, seats: list[str]) -> None:
    buyer = await buyer_at(base_url)
    booking = await _pending(buyer, showtime, seats[:1])
    assert booking["payment"]["provider"] == "simulated"
    assert parse_qs(urlsplit(booking["checkout_url"]).query) == {}
