"""A local simulation of a hosted-checkout payment provider, served under /pay/.

It behaves like the real ones where it matters to us: the buyer pays,
declines or lets the order time out on its page; the browser comes back with
an HMAC-SHA256-signed result; webhooks are signed with a timestamp
(``Sim-Signature: t=<unix>,v1=<hex of HMAC(secret, "<t>.<body>")>``), sent at
least once, sometimes twice, sometimes late enough to be overtaken, and
retried with back-off until our endpoint answers 2xx. Its orders live in the
``sim_provider_orders`` table, so every instance can serve its pages.

An order settles once (paid, declined or timed out) and its signed return is
made once, stamped with the settle time: asking the page again for a settled
order hands out that same return while it is fresh, and after that only the
page saying how the order ended. So a return cannot be refreshed to outlive
the freshness window. The key is the ``payment`` key of ``keys.Keyring``.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import random
import secrets
import time
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlencode

import aiohttp
import asyncpg
from aiohttp import web

from seatserver.bookings.gateway import (
    EventType,
    Order,
    PaymentEvent,
    sign,
    signed_by_any,
)
from seatserver.bookings.keys import Keyring
from seatserver.errors import BadSignature, NotFound
from seatserver.http.openapi import describe
from seatserver.http.roles import Role, allow

log = logging.getLogger(__name__)

NAME = "simulated"
KEY = "payment"
SIGNATURE_HEADER = "Sim-Signature"
MAX_ATTEMPTS = 8
RETRY_CAP_S = 30.0
_OUTCOMES: dict[str, tuple[str, EventType]] = {
    "pay": ("captured", "captured"),
    "decline": ("declined", "failed"),
    "timeout": ("expired", "expired"),
}


def return_message(query: Mapping[str, str]) -> str:
    return "|".join(query.get(k, "") for k in ("order", "status", "amount", "currency", "ts"))


def webhook_signature(secret: str, body: bytes, at: int) -> str:
    return f"t={at},v1={sign(secret, f'{at}.{body.decode()}')}"


class WebhookDispatcher:
    """Delivers signed webhooks at least once, retrying with capped back-off."""

    def __init__(self, keys: Keyring, *, duplicate_rate: float, reorder_rate: float,
                 retry_base_s: float, rng: random.Random | None = None) -> None:
        self._keys = keys
        self._dup = duplicate_rate
        self._reorder = reorder_rate
        self._base = retry_base_s
        self._rng = rng or random.Random()
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    def send(self, url: str, event: dict[str, object]) -> None:
        copies = 2 if self._rng.random() < self._dup else 1
        for _ in range(copies):
            delay = self._rng.uniform(0.2, 1.0) if self._rng.random() < self._reorder else 0.0
            task = asyncio.create_task(self._deliver(url, event, delay))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, event: dict[str, object], delay: float) -> None:
        await asyncio.sleep(delay)
        body = json.dumps(event).encode()
        for attempt in range(MAX_ATTEMPTS):
            if await self._post(url, body):
                return
            await asyncio.sleep(min(RETRY_CAP_S, self._base * 2 ** attempt))
        log.error("webhook %s to %s given up after %d attempts", event["id"], url, MAX_ATTEMPTS)

    async def _post(self, url: str, body: bytes) -> bool:
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        # Signed at send time, as real providers do: a retry carries a fresh stamp.
        headers = {SIGNATURE_HEADER: webhook_signature(self._keys.signing(KEY), body,
                                                       int(time.time())),
                   "Content-Type": "application/json"}
        try:
            async with self._session.post(url, data=body, headers=headers,
                                          timeout=aiohttp.ClientTimeout(total=10)) as resp:
                return resp.status < 300
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()


class SimulatedGateway:
    """The provider side (orders, pages, webhooks) and our side (verification)."""

    name = NAME

    def __init__(self, pool: asyncpg.Pool, keys: Keyring, dispatcher: WebhookDispatcher, *,
                 tolerance_s: int) -> None:
        self._pool = pool
        self._keys = keys
        self._dispatcher = dispatcher
        self._tolerance = tolerance_s

    # -- the PaymentGateway interface -------------------------------------------------

    async def create_order(self, *, reference: str, amount: int, currency: str,
                           return_url: str, webhook_url: str, expires_at: datetime) -> Order:
        order_id = "sim_" + secrets.token_hex(12)
        async with self._pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO sim_provider_orders (order_id, reference, amount, currency,
                                                    return_url, webhook_url, expires_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7)""",
                order_id, reference, amount, currency, return_url, webhook_url, expires_at)
        return Order(order_id, f"/pay/{order_id}")

    async def verify_return(self, query: Mapping[str, str]) -> PaymentEvent | None:
        if not signed_by_any(self._keys.verifying(KEY), return_message(query),
                             query.get("sig", "")):
            raise BadSignature("the payment result is not signed by the provider")
        self._fresh(query.get("ts", ""))
        status = query["status"]
        kind = {"captured": "captured", "declined": "failed", "expired": "expired"}.get(status)
        if kind is None or not query.get("amount", "").isdecimal():
            raise BadSignature("malformed payment result")
        return PaymentEvent(
            event_id=f"return:{query['order']}:{status}", type=kind,  # type: ignore[arg-type]
            order_id=query["order"], amount=int(query["amount"]),
            currency=query.get("currency", ""), payment_id=None, raw=urlencode(query))

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> PaymentEvent:
        parts = dict(p.split("=", 1) for p in headers.get(SIGNATURE_HEADER, "").split(",")
                     if "=" in p)
        stamp, given = parts.get("t", ""), parts.get("v1", "")
        try:
            text = body.decode()
        except UnicodeDecodeError:
            raise BadSignature("webhook body is not UTF-8") from None
        if not signed_by_any(self._keys.verifying(KEY), f"{stamp}.{text}", given):
            raise BadSignature("webhook signature does not verify")
        self._fresh(stamp)
        try:
            event = json.loads(text)
            data = event["data"]
            return PaymentEvent(event_id=str(event["id"]), type=event["type"],
                                order_id=str(data["order_id"]), amount=int(data["amount"]),
                                currency=str(data["currency"]),
                                payment_id=data.get("payment_id"), raw=text)
        except (ValueError, KeyError, TypeError):
            raise BadSignature("malformed webhook") from None

    async def lookup(self, order_id: str, *, close: bool) -> PaymentEvent | None:
        """A settled order's outcome from the provider's table. An open order
        is left open even with ``close``: its page refuses payment past the
        order's own expiry, which is our deadline."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM sim_provider_orders WHERE order_id = $1", order_id)
        if row is None or row["status"] not in _OUTCOMES_BY_STATUS:
            return None
        kind = _OUTCOMES_BY_STATUS[row["status"]]
        return PaymentEvent(event_id=f"lookup:{order_id}:{kind}", type=kind,
                            order_id=order_id, amount=row["amount"], currency=row["currency"],
                            payment_id="pay_" + order_id[4:],
                            raw=json.dumps({"order": order_id, "status": row["status"]}))

    async def capture(self, order_id: str) -> None:
        """Orders are captured when paid on the page; nothing more to do."""

    async def refund(self, order_id: str, amount: int) -> None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                """UPDATE sim_provider_orders SET refunded = least(amount, $2)
                   WHERE order_id = $1 AND status = 'captured' AND refunded < least(amount, $2)
                   RETURNING *""", order_id, amount)
        if row is not None:
            self._notify(row, "refunded")

    def _fresh(self, stamp: str) -> None:
        if not stamp.isdecimal() or abs(time.time() - int(stamp)) > self._tolerance:
            raise BadSignature("signature timestamp is missing or stale")

    def _notify(self, row: asyncpg.Record, kind: EventType) -> None:
        self._dispatcher.send(row["webhook_url"], {
            "id": "evt_" + secrets.token_hex(10), "type": kind, "created": int(time.time()),
            "data": {"order_id": row["order_id"], "amount": row["amount"],
                     "currency": row["currency"], "payment_id": "pay_" + row["order_id"][4:]},
        })

    # -- the provider's hosted checkout page ------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/pay/{order}", self.page),
                web.post("/pay/{order}/{action}", self.act)]

    async def _order(self, order_id: str) -> asyncpg.Record:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM sim_provider_orders WHERE order_id = $1", order_id)
        if row is None:
            raise NotFound("no such payment")
        return row

    # The provider's own pages: on another site in real life, no session of ours.
    @allow(Role.ANONYMOUS)
    @describe("The simulated provider's checkout page.", content="text/html",
              errors=[404])
    async def page(self, request: web.Request) -> web.Response:
        return _order_page(await self._order(request.match_info["order"]))

    @allow(Role.ANONYMOUS)
    @describe("Pay, decline or abandon on the simulated checkout page: 303 to the signed "
              "return, made once when the order settles.", status=303, errors=[404],
              also={200: "The page of an order that settled too long ago (HTML)."})
    async def act(self, request: web.Request) -> web.Response:
        order_id, action = request.match_info["order"], request.match_info["action"]
        if action not in _OUTCOMES:
            raise NotFound("no such action")
        status = _OUTCOMES[action][0]
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                """UPDATE sim_provider_orders SET status = CASE
                          WHEN expires_at < now() THEN 'expired' ELSE $2 END,
                          settled_at = now()
                   WHERE order_id = $1 AND status = 'open' RETURNING *""", order_id, status)
        if row is None:
            row = await self._order(order_id)  # settled before: its one return, if fresh
        else:
            self._notify(row, _OUTCOMES_BY_STATUS[row["status"]])
        settled = int(row["settled_at"].timestamp())
        if time.time() - settled > self._tolerance:
            return _order_page(row)
        query = {"order": order_id, "status": row["status"], "amount": str(row["amount"]),
                 "currency": row["currency"], "ts": str(settled)}
        query["sig"] = sign(self._keys.signing(KEY), return_message(query))
        raise web.HTTPSeeOther(f"{row['return_url']}?{urlencode(query)}")


def _order_page(row: asyncpg.Record) -> web.Response:
    amount = f"{row['amount'] / 100:.2f} {row['currency']}"
    if row["status"] != "open":
        body = f"<p>This payment is {html.escape(row['status'])}.</p>"
    else:
        body = "".join(
            f'<form method="post" action="/pay/{row["order_id"]}/{action}">'
            f'<button name="go" value="1">{label}</button></form>'
            for action, label in (("pay", "Pay " + amount), ("decline", "Decline"),
                                  ("timeout", "Let it time out")))
    return web.Response(content_type="text/html", text=_page(
        "SimPay checkout",
        f"<h1>SimPay</h1><p>Order for booking <strong>{html.escape(row['reference'])}"
        f"</strong>: <strong>{amount}</strong></p>{body}"
        "<p><small>A simulated payment provider: no money moves.</small></p>"))


_OUTCOMES_BY_STATUS: dict[str, EventType] = {s: k for s, k in _OUTCOMES.values()}


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang=\"en\"><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title>"
            "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:2rem auto;"
            "padding:0 1rem}button{font:inherit;padding:.5rem 1rem;margin:.25rem 0}</style>"
            f"<body>{body}</body></html>")
