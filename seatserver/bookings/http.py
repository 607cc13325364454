"""Bookings over HTTP: checkout, reading and cancelling, and the payment
provider's return and webhooks; plus the buyer's receipt page."""

from __future__ import annotations

import dataclasses
import html
import re
from typing import Any

import orjson
from aiohttp import web

from seatserver.accounts.sessions import SESSION_COOKIE, Identity, SessionStore
from seatserver.bookings.checkout import Checkout
from seatserver.bookings.gateway import PaymentGateway
from seatserver.bookings.idempotency import IdempotencyStore, SavedResponse, request_hash
from seatserver.bookings.models import Booking
from seatserver.bookings.store import BookingStore
from seatserver.bookings.tickets import TicketSigner, qr_png, qr_svg
from seatserver.catalog.http import showtime_id
from seatserver.errors import (
    BadMessage,
    BadRequest,
    BadSignature,
    NotFound,
    SeatError,
    Unauthorized,
)

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_SEAT = re.compile(r"^[A-Za-z0-9-]{1,16}$")


def public(booking: Booking, **extra: Any) -> dict[str, Any]:
    body = dataclasses.asdict(booking)
    del body["user_id"]
    return {**body, **extra}


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body),
                        content_type="application/json")


def _seats(raw: bytes) -> list[str] | None:
    """The optional ``{"seats": [...]}`` body: a named subset of one's holds."""
    if not raw.strip():
        return None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("body must be JSON") from None
    if not isinstance(body, dict) or set(body) - {"seats"}:
        raise BadRequest('body must be {"seats": [...]} or empty')
    seats = body.get("seats")
    if seats is None:
        return None
    if (not isinstance(seats, list) or len(seats) > 100 or len(set(seats)) != len(seats)
            or not all(isinstance(s, str) and _SEAT.match(s) for s in seats)):
        raise BadRequest("seats must be a list of distinct seat ids")
    return seats


class BookingHandlers:
    def __init__(self, checkout: Checkout, store: BookingStore, keys: IdempotencyStore,
                 sessions: SessionStore, tickets: TicketSigner) -> None:
        self._checkout = checkout
        self._store = store
        self._keys = keys
        self._sessions = sessions
        self._tickets = tickets

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/showtimes/{id}/bookings", self.create),
            web.get("/api/bookings", self.history),
            web.get("/api/bookings/{ref}", self.get),
            web.get("/api/bookings/{ref}/ticket.svg", self.ticket_svg),
            web.get("/api/bookings/{ref}/ticket.png", self.ticket_png),
            web.post("/api/bookings/{ref}/cancel", self.cancel),
            web.get("/api/payments/{provider}/return", self.payment_return),
            web.post("/api/payments/{provider}/webhook", self.webhook),
            web.get("/bookings/{ref}", self.receipt),
        ]

    async def _identity(self, request: web.Request) -> Identity:
        token = request.cookies.get(SESSION_COOKIE)
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        identity = await self._sessions.resolve(token) if token else None
        if identity is None:
            raise Unauthorized("a session is needed: POST /api/sessions first")
        return identity

    async def create(self, request: web.Request) -> web.Response:
        identity = await self._identity(request)
        showtime = showtime_id(request)
        key = request.headers.get("Idempotency-Key", "")
        if not _KEY.match(key):
            raise BadRequest("an Idempotency-Key header (1-255 printable characters) is needed")
        raw = await request.read()
        seats = _seats(raw)
        fingerprint = request_hash(str(showtime).encode(), orjson.dumps(seats))
        saved = await self._keys.claim(identity.user_id, key, fingerprint)
        if saved is not None:
            return web.Response(status=saved.status, body=saved.body,
                                content_type="application/json",
                                headers={"Idempotent-Replayed": "true"})
        try:
            response = await self._start(request, identity, showtime, seats)
        except SeatError as err:
            if err.status >= 500:
                await self._keys.forget(identity.user_id, key)
                raise
            body = {"error": {"code": err.code, "message": err.message}}
            if err.seats:
                body["error"]["seats"] = err.seats  # type: ignore[assignment]
            response = _json(body, err.status)
        except BaseException:
            await self._keys.forget(identity.user_id, key)
            raise
        assert isinstance(response.body, bytes)
        await self._keys.finish(identity.user_id, key,
                                SavedResponse(response.status, response.body))
        return response

    async def _start(self, request: web.Request, identity: Identity, showtime: int,
                     seats: list[str] | None) -> web.Response:
        booking, pay_url = await self._checkout.start(
            user_id=identity.user_id, showtime=showtime, seats=seats,
            base_url=str(request.url.origin()), remote=request.remote)
        return _json(public(booking, checkout_url=pay_url), 201)

    async def _owned(self, request: web.Request) -> tuple[Identity, Booking]:
        identity = await self._identity(request)
        reference = request.match_info["ref"]
        booking = await self._store.get(reference) if len(reference) <= 32 else None
        if booking is None or booking.user_id != identity.user_id:
            raise NotFound(f"no booking {reference}")
        return identity, booking

    async def get(self, request: web.Request) -> web.Response:
        _, booking = await self._owned(request)
        ticket = self._ticket(booking)
        qr = None
        if ticket is not None:
            base = f"/api/bookings/{booking.reference}/ticket"
            qr = {"svg": base + ".svg", "png": base + ".png"}
        return _json(public(booking, ticket=ticket, ticket_qr=qr))

    async def _ticket_of(self, request: web.Request) -> str:
        _, booking = await self._owned(request)
        ticket = self._ticket(booking)
        if ticket is None:
            raise NotFound(f"booking {booking.reference} has no ticket: it is {booking.status}")
        return ticket

    async def ticket_svg(self, request: web.Request) -> web.Response:
        ticket = await self._ticket_of(request)
        return web.Response(text=qr_svg(ticket, standalone=True),
                            content_type="image/svg+xml",
                            headers={"Cache-Control": "private, no-store"})

    async def ticket_png(self, request: web.Request) -> web.Response:
        ticket = await self._ticket_of(request)
        return web.Response(body=qr_png(ticket), content_type="image/png",
                            headers={"Cache-Control": "private, no-store"})

    async def history(self, request: web.Request) -> web.Response:
        identity = await self._identity(request)
        return _json([public(b) for b in await self._store.for_user(identity.user_id)])

    async def cancel(self, request: web.Request) -> web.Response:
        identity, booking = await self._owned(request)
        cancelled = await self._checkout.cancel(booking.reference, user_id=identity.user_id,
                                                remote=request.remote)
        return _json(public(cancelled))

    def _gateway(self, request: web.Request) -> PaymentGateway:
        gateway = self._checkout.gateway(request.match_info["provider"])
        if gateway is None:
            raise NotFound("no such payment provider")
        return gateway

    async def payment_return(self, request: web.Request) -> web.Response:
        gateway = self._gateway(request)
        try:
            event = gateway.verify_return(dict(request.query))
        except BadSignature as err:
            await self._store.audit(f"provider:{gateway.name}", "payment.forged_return",
                                    request.remote, {"reason": err.message})
            raise
        booking = await self._checkout.apply(gateway.name, event)
        raise web.HTTPSeeOther(f"/bookings/{booking.reference}")

    async def webhook(self, request: web.Request) -> web.Response:
        gateway = self._gateway(request)
        body = await request.read()
        try:
            event = gateway.parse_webhook(request.headers, body)
        except BadSignature as err:
            await self._store.audit(f"provider:{gateway.name}", "payment.forged_webhook",
                                    request.remote, {"reason": err.message})
            raise
        booking = await self._checkout.apply(gateway.name, event)
        return _json({"received": True, "booking": booking.reference,
                      "status": booking.status})

    def _ticket(self, booking: Booking) -> str | None:
        """A ticket id the door can check offline: reference plus its signature."""
        if booking.status != "booked":
            return None
        return self._tickets.issue(booking.reference)

    async def receipt(self, request: web.Request) -> web.Response:
        try:
            _, booking = await self._owned(request)
        except (NotFound, Unauthorized, BadMessage):
            raise web.HTTPNotFound() from None
        return web.Response(content_type="text/html", text=_receipt(booking,
                                                                    self._ticket(booking)))


_HEADLINES = {
    "booked": "You're booked",
    "pending": "Waiting for your payment",
    "expired": "This booking expired: the payment did not go through, the seats were freed",
    "cancelled": "This booking was cancelled and refunded",
}


def _money(amount: int, currency: str) -> str:
    return f"{amount / 100:.2f} {html.escape(currency)}"


def _receipt(booking: Booking, ticket: str | None) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(s.id)}</td><td>{html.escape(s.type)}</td>"
        f"<td>{_money(s.price.amount, s.price.currency)}</td></tr>" for s in booking.seats)
    payment = booking.payment.status if booking.payment else "none"
    ticket_html = ""
    if ticket:
        # Inline, so the printed receipt needs no second request to show it.
        ticket_html = (f"<figure class=\"ticket\">{qr_svg(ticket)}<figcaption>Ticket "
                       f"<code>{html.escape(ticket)}</code></figcaption></figure>")
    note = ""
    if booking.attention == "late_payment_refunded":
        note = "<p>Your payment arrived after the seats were sold; it was refunded in full.</p>"
    return (
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width\">"
        f"<title>Booking {html.escape(booking.reference)}</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;"
        "padding:0 1rem}table{border-collapse:collapse}td,th{padding:.25rem .75rem;"
        "text-align:left;border-bottom:1px solid #ccc}@media print{a{display:none}}</style>"
        f"<body><h1>{_HEADLINES.get(booking.status, booking.status)}</h1>"
        f"<p>Booking <strong data-status=\"{booking.status}\">"
        f"{html.escape(booking.reference)}</strong>, showtime {booking.showtime}</p>"
        f"<table><tr><th>Seat</th><th>Type</th><th>Price</th></tr>{rows}</table>"
        f"<p>Total <strong>{_money(booking.total.amount, booking.total.currency)}</strong>"
        f" · payment {html.escape(payment)}</p>{ticket_html}{note}"
        f"<p><a href=\"/showtimes/{booking.showtime}\">Back to the seat map</a></p>"
        "</body></html>")
