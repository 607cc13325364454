"""A local stand-in for Stripe: exactly the HTTP calls seatserver makes, as
Stripe documents them, and signed webhooks sent the way Stripe sends them.

API (form-encoded requests with Stripe's bracketed nesting, ``Bearer`` key,
JSON objects and ``{"error": {"type", "message", "param", "code"}}`` errors):

    POST /v1/checkout/sessions               create (Idempotency-Key honoured)
    GET  /v1/checkout/sessions/{id}          retrieve, expand[] of payment_intent
                                             and payment_intent.latest_charge
    POST /v1/checkout/sessions/{id}/expire   only an open session
    POST /v1/payment_intents/{id}/capture    only a requires_capture intent
    POST /v1/refunds                         payment_intent + amount, at most what is left

An idempotency key replays the first answer (``Idempotent-Replayed: true``)
and refuses other parameters under the same key (400 ``idempotency_error``).
``faults`` makes the next API calls fail: ``"500"`` (before doing anything),
``"lost"`` (done and stored, answered 500: the retry must replay), ``"429"``
(``rate_limit``) and ``"hang"`` (no answer for a minute).

The hosted page ``/c/pay/{id}`` has Pay, Decline (the card is refused; the
session stays open, as on Stripe) and Back (to ``cancel_url``) buttons.
Events go to ``webhook_url`` signed ``Stripe-Signature: t=<unix>,v1=<hex
HMAC-SHA256(secret, "<t>.<body>")>``, unless ``lose_webhooks``; ``duplicate``
sends each twice. ``send`` posts any event or body, signed as told, for
tests of replays, reordering and forgeries.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import html
import itertools
import json
import re
import secrets
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp import web

API_VERSION = "2025-09-30.clover"
PARAMS = web.RequestKey("params", dict)
_INDEX = re.compile(r"\[([^\]]*)\]")


def nested(pairs: Mapping[str, str] | list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (``a[b][0][c]=v``) back into objects and lists."""
    root: dict[str, Any] = {}
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    for key, value in items:
        head = key.split("[", 1)[0]
        path = [head, *_INDEX.findall(key[len(head):])]
        node: Any = root
        for part, after in itertools.pairwise(path):
            child_is_list = after.isdigit() or after == ""
            if isinstance(node, list):
                index = int(part) if part else len(node)
                while len(node) <= index:
                    node.append([] if child_is_list else {})
                node = node[index]
            else:
                node = node.setdefault(part, [] if child_is_list else {})
        last = path[-1]
        if isinstance(node, list):
            index = int(last) if last else len(node)
            while len(node) <= index:
                node.append(None)
            node[index] = value
        else:
            node[last] = value
    return root


def signature(secret: str, body: bytes, at: int) -> str:
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


class StripeError(Exception):
    def __init__(self, status: int, kind: str, message: str, *, param: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.param, self.code = status, kind, param, code

    def response(self) -> web.Response:
        error = {"type": self.kind, "message": str(self)}
        if self.param:
            error["param"] = self.param
        if self.code:
            error["code"] = self.code
        return web.json_response({"error": error}, status=self.status,
                                 headers={"Request-Id": "req_" + secrets.token_hex(7)})


def _bad(message: str, param: str, code: str = "parameter_invalid") -> StripeError:
    return StripeError(400, "invalid_request_error", message, param=param, code=code)


def _int(params: Mapping[str, Any], name: str, *, minimum: int = 0) -> int:
    raw = params.get(name)
    if not isinstance(raw, str) or not raw.isdigit() or int(raw) < minimum:
        raise _bad(f"Invalid integer: {raw}", name, "parameter_invalid_integer")
    return int(raw)


class StripeStandIn:
    def __init__(self, *, api_key: str, webhook_secret: str) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.webhook_url: str | None = None
        self.origin = ""  # set once served: the hosted page's address
        self.sessions: dict[str, dict[str, Any]] = {}
        self.intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str, str | None]] = []  # method, path, idempotency key
        self.faults: list[str] = []
        self.lose_webhooks = False
        self.duplicate = False
        self.deliveries: list[tuple[str, int]] = []  # event id, our answer's status
        self._idempotent: dict[str, tuple[str, dict[str, Any], int, bytes]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = asyncio.Event()
        self._http: aiohttp.ClientSession | None = None

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._api])
        app.router.add_post("/v1/checkout/sessions", self.create_session)
        app.router.add_get("/v1/checkout/sessions/{id}", self.retrieve_session)
        app.router.add_post("/v1/checkout/sessions/{id}/expire", self.expire_session)
        app.router.add_post("/v1/payment_intents/{id}/capture", self.capture_intent)
        app.router.add_post("/v1/refunds", self.create_refund)
        app.router.add_get("/c/pay/{id}", self.page)
        app.router.add_post("/c/pay/{id}/{action}", self.act)
        app.on_shutdown.append(self._shutdown)
        app.on_cleanup.append(self._close)
        return app

    # -- the API's envelope: key, faults, idempotency, errors ----------------------

    @web.middleware
    async def _api(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith("/v1/"):
            return await handler(request)  # type: ignore[no-any-return]
        key = request.headers.get("Idempotency-Key")
        self.calls.append((request.method, request.path, key))
        fault = self.faults.pop(0) if self.faults else None
        params: dict[str, Any] | None = None
        try:
            if request.headers.get("Authorization") != f"Bearer {self.api_key}":
                raise StripeError(401, "invalid_request_error",
                                  "Invalid API Key provided: sk_test_****")
            if fault == "500":
                raise StripeError(500, "api_error", "An unknown error occurred")
            if fault == "429":
                raise StripeError(429, "invalid_request_error", "Too many requests hit the "
                                  "API too quickly.", code="rate_limit")
            if fault == "hang":
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), 60)
            params = nested(list((await request.post()).items()) if request.method == "POST"
                            else list(request.query.items()))
            if request.method == "POST" and key:
                replay = self._replay(key, request.path, params)
                if replay is not None:
                    return replay
            request[PARAMS] = params
            response: web.Response = await handler(request)
        except StripeError as err:
            response = err.response()
        if request.method == "POST" and key and params is not None and response.status < 500:
            assert isinstance(response.body, bytes)
            self._idempotent[key] = (request.path, params, response.status, response.body)
        if fault == "lost":  # done and remembered, but the answer never arrives
            return StripeError(500, "api_error", "An unknown error occurred").response()
        return response

    def _replay(self, key: str, path: str, params: dict[str, Any]) -> web.Response | None:
        if key not in self._idempotent:
            return None
        first_path, first_params, status, body = self._idempotent[key]
        if (first_path, first_params) != (path, params):
            raise StripeError(400, "idempotency_error",
                              "Keys for idempotent requests can only be used with the same "
                              "parameters they were first used with. Try using a key other "
                              f"than '{key}' if you meant to execute a different request.")
        return web.Response(status=status, body=body, content_type="application/json",
                            headers={"Idempotent-Replayed": "true"})

    # -- the API's calls ------------------------------------------------------------

    async def create_session(self, request: web.Request) -> web.Response:
        params = request[PARAMS]
        if params.get("mode") != "payment":
            raise _bad("This integration only creates sessions in payment mode.", "mode")
        for name in ("success_url", "cancel_url"):
            if not str(params.get(name, "")).startswith(("http://", "https://")):
                raise _bad(f"Not a valid URL: {name}", name, "url_invalid")
        items = params.get("line_items")
        if not isinstance(items, list) or len(items) != 1:
            raise _bad("Exactly one line item, please.", "line_items")
        data = items[0].get("price_data", {})
        currency = str(data.get("currency", ""))
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise _bad(f"Invalid currency: {currency}", "line_items[0][price_data][currency]")
        amount = _int(data, "unit_amount") * _int(items[0], "quantity", minimum=1)
        now = int(time.time())
        expires = _int(params, "expires_at")
        if not now + 1800 <= expires <= now + 86400:
            raise _bad("The `expires_at` timestamp must be between 30 minutes and 24 hours "
                       "from Checkout Session creation.", "expires_at")
        session_id = "cs_test_" + secrets.token_hex(16)
        self.sessions[session_id] = session = {
            "id": session_id, "object": "checkout.session", "amount_subtotal": amount,
            "amount_total": amount, "cancel_url": params["cancel_url"],
            "client_reference_id": params.get("client_reference_id"), "created": now,
            "currency": currency, "expires_at": expires, "livemode": False,
            "metadata": params.get("metadata", {}), "mode": "payment",
            "payment_intent": None, "payment_method_types": params.get(
                "payment_method_types", ["card"]), "payment_status": "unpaid",
            "status": "open", "success_url": params["success_url"],
            "url": f"{self.origin}/c/pay/{session_id}",
            "intent_metadata": params.get("payment_intent_data", {}).get("metadata", {}),
        }
        return self._json(session)

    async def retrieve_session(self, request: web.Request) -> web.Response:
        params = request[PARAMS]
        session = self._session(request.match_info["id"])
        expand = params.get("expand", [])
        shown = dict(session)
        if "payment_intent" in expand or "payment_intent.latest_charge" in expand:
            intent = self.intents.get(session["payment_intent"] or "")
            if intent is not None:
                intent = dict(intent)
                if "payment_intent.latest_charge" in expand:
                    intent["latest_charge"] = self.charges[intent["latest_charge"]]
                shown["payment_intent"] = intent
        return self._json(shown)

    async def expire_session(self, request: web.Request) -> web.Response:
        session = self._session(request.match_info["id"])
        if session["status"] != "open":
            raise StripeError(400, "invalid_request_error",
                              'Only Checkout Sessions with a status in ["open"] can be '
                              f"expired. This session has status {session['status']}.",
                              code="checkout_session_not_open")
        session["status"] = "expired"
        self.emit("checkout.session.expired", session)
        return self._json(session)

    async def capture_intent(self, request: web.Request) -> web.Response:
        intent = self.intents.get(request.match_info["id"])
        if intent is None:
            raise StripeError(404, "invalid_request_error", "No such payment_intent",
                              param="intent", code="resource_missing")
        if intent["status"] != "requires_capture":
            raise StripeError(400, "invalid_request_error", "This PaymentIntent could not "
                              "be captured because it has a status of "
                              f"{intent['status']}.", code="payment_intent_unexpected_state")
        intent["status"] = "succeeded"
        return self._json(intent)

    async def create_refund(self, request: web.Request) -> web.Response:
        params = request[PARAMS]
        intent = self.intents.get(str(params.get("payment_intent")))
        if intent is None:
            raise StripeError(400, "invalid_request_error", "No such payment_intent",
                              param="payment_intent", code="resource_missing")
        charge = self.charges[intent["latest_charge"]]
        left = charge["amount"] - charge["amount_refunded"]
        amount = _int(params, "amount", minimum=1) if "amount" in params else left
        if amount > left:
            raise _bad(f"Refund amount ({amount}) is greater than unrefunded amount on "
                       f"charge ({left})", "amount", "amount_too_large")
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        refund = {"id": "re_" + secrets.token_hex(12), "object": "refund", "amount": amount,
                  "charge": charge["id"], "currency": charge["currency"],
                  "metadata": params.get("metadata", {}), "payment_intent": intent["id"],
                  "status": "succeeded", "created": int(time.time())}
        self.refunds.append(refund)
        self.emit("charge.refunded", charge)
        return self._json(refund)

    def _session(self, session_id: str) -> dict[str, Any]:
        if session_id not in self.sessions:
            raise StripeError(404, "invalid_request_error",
                              f"No such checkout.session: '{session_id}'", param="session",
                              code="resource_missing")
        return self.sessions[session_id]

    @staticmethod
    def _json(obj: Mapping[str, Any]) -> web.Response:
        return web.json_response({k: v for k, v in obj.items() if k != "intent_metadata"})

    # -- the hosted page ------------------------------------------------------------

    def pay(self, session_id: str) -> dict[str, Any]:
        """The buyer pays: the session completes and its events are sent."""
        session = self.sessions[session_id]
        if session["status"] != "open" or session["expires_at"] < time.time():
            return session
        intent_id, charge_id = "pi_" + secrets.token_hex(12), "ch_" + secrets.token_hex(12)
        self.charges[charge_id] = {
            "id": charge_id, "object": "charge", "amount": session["amount_total"],
            "amount_refunded": 0, "currency": session["currency"], "paid": True,
            "payment_intent": intent_id, "refunded": False, "status": "succeeded"}
        self.intents[intent_id] = {
            "id": intent_id, "object": "payment_intent", "amount": session["amount_total"],
            "currency": session["currency"], "latest_charge": charge_id,
            "metadata": session["intent_metadata"], "status": "succeeded"}
        session.update(status="complete", payment_status="paid", payment_intent=intent_id)
        self.emit("checkout.session.completed", session)
        return session

    async def page(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["id"])
        if session is None:
            raise web.HTTPNotFound(text="No such Checkout Session")
        return _page(session, request.query.get("declined") == "1")

    async def act(self, request: web.Request) -> web.Response:
        session_id, action = request.match_info["id"], request.match_info["action"]
        session = self.sessions.get(session_id)
        if session is None or action not in ("pay", "decline", "back"):
            raise web.HTTPNotFound(text="No such Checkout Session")
        if action == "back":
            raise web.HTTPSeeOther(session["cancel_url"])
        if session["status"] == "open" and action == "decline":
            self.emit("payment_intent.payment_failed", {
                "id": "pi_" + secrets.token_hex(12), "object": "payment_intent",
                "amount": session["amount_total"], "currency": session["currency"],
                "status": "requires_payment_method",
                "last_payment_error": {"code": "card_declined",
                                       "message": "Your card was declined."}})
            raise web.HTTPSeeOther(f"/c/pay/{session_id}?declined=1")
        if self.pay(session_id)["status"] != "complete":
            return _page(session, False)
        raise web.HTTPSeeOther(session["success_url"].replace("{CHECKOUT_SESSION_ID}",
                                                              session_id))

    # -- webhooks -------------------------------------------------------------------

    def emit(self, kind: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        """An event as Stripe makes it, sent to the endpoint unless lost."""
        event = {"id": "evt_" + secrets.token_hex(12), "object": "event",
                 "api_version": API_VERSION, "created": int(time.time()),
                 "data": {"object": {k: v for k, v in obj.items() if k != "intent_metadata"}},
                 "livemode": False, "pending_webhooks": 1,
                 "request": {"id": None, "idempotency_key": None}, "type": kind}
        self.events.append(event)
        if self.webhook_url and not self.lose_webhooks:
            for _ in range(2 if self.duplicate else 1):
                task = asyncio.get_running_loop().create_task(self._deliver(event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        return event

    async def _deliver(self, event: dict[str, Any]) -> None:
        status = await self.send(event)
        self.deliveries.append((event["id"], status))

    async def send(self, event: Mapping[str, Any] | bytes, *, secret: str | None = None,
                   at: int | None = None, header: str | None = None) -> int:
        """Posts an event (or raw bytes) to the endpoint, signed with ``secret``
        (ours by default) at ``at``; ``header`` replaces the signature header."""
        assert self.webhook_url is not None
        body = event if isinstance(event, bytes) else json.dumps(event, indent=2).encode()
        sign = signature(secret or self.webhook_secret, body,
                         int(time.time()) if at is None else at)
        if self._http is None:
            self._http = aiohttp.ClientSession()
        async with self._http.post(self.webhook_url, data=body, headers={
                "Stripe-Signature": sign if header is None else header,
                "Content-Type": "application/json; charset=utf-8"}) as resp:
            return resp.status

    async def settled(self) -> None:
        """Waits for the webhooks on their way."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _shutdown(self, app: web.Application) -> None:
        self._closing.set()  # hanging calls end, so the server stops at once

    async def _close(self, app: web.Application) -> None:
        await self.settled()
        if self._http is not None:
            await self._http.close()


def _page(session: Mapping[str, Any], declined: bool) -> web.Response:
    amount = html.escape(f"{session['amount_total']} {session['currency'].upper()}")
    if session["status"] != "open":
        body = f"<p>This Checkout Session is {html.escape(session['status'])}.</p>"
    else:
        note = '<p role="alert">Your card was declined.</p>' if declined else ""
        body = note + "".join(
            f'<form method="post" action="/c/pay/{session["id"]}/{action}">'
            f"<button>{label}</button></form>"
            for action, label in (("pay", f"Pay {amount}"), ("decline", "Pay with a card "
                                                            "that is declined"),
                                  ("back", "Back")))
    return web.Response(content_type="text/html", text=(
        '<!doctype html><html lang="en"><meta charset="utf-8"><title>Stripe stand-in'
        f"</title><body><h1>Stripe stand-in checkout</h1>{body}</body></html>"))
