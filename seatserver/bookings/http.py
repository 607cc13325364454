"""Bookings over HTTP: checkout, reading and cancelling, and the payment
provider's return and webhooks; plus the buyer's receipt page."""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import orjson
from aiohttp import web
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
)

from seatserver.accounts.forms import Email, Phone
from seatserver.accounts.rbac import identity_of
from seatserver.accounts.sessions import Identity
from seatserver.bookings.calendar import booking_ics
from seatserver.bookings.checkout import Checkout
from seatserver.bookings.door import Door
from seatserver.bookings.gateway import PaymentGateway
from seatserver.bookings.idempotency import IdempotencyStore, SavedResponse, request_hash
from seatserver.bookings.links import TicketLinks
from seatserver.bookings.models import Booking, Contact
from seatserver.bookings.receipt import render_receipt, seat_name
from seatserver.bookings.store import BookingStore
from seatserver.bookings.tickets import TicketSigner, qr_png, qr_svg
from seatserver.catalog.models import ShowtimeDetail
from seatserver.catalog.store import CatalogStore
from seatserver.db import DB_DOWN, MAX_ID
from seatserver.errors import (
    BadMessage,
    BadRequest,
    BadSignature,
    CodedError,
    InvalidInput,
    NotFound,
    PaymentMismatch,
    Unauthorized,
)
from seatserver.http.bodies import optional_body
from seatserver.http.errors import coded_response
from seatserver.http.openapi import describe
from seatserver.http.params import shown, showtime_id
from seatserver.http.responses import JSON, PAGE_HEADERS, json_response
from seatserver.http.roles import BUYERS, Role, allow

log = logging.getLogger(__name__)

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def public(booking: Booking, **extra: Any) -> dict[str, Any]:
    body = dataclasses.asdict(booking)
    del body["user_id"]
    return {**body, **extra}


def _show(detail: ShowtimeDetail | None) -> dict[str, Any] | None:
    """What a booking's showtime is, for people: film, start (theater's zone), place."""
    if detail is None:
        return None
    # The zone as the receipt and the e-mail name it ("CET", "EDT"): a
    # browser's Intl says "GMT+1" for Berlin in English.
    abbreviation = detail.starts_at.astimezone(ZoneInfo(detail.theater.time_zone)).tzname()
    return {"movie": detail.movie.title, "starts_at": detail.starts_at,
            "ends_at": detail.ends_at, "theater": detail.theater.name,
            "screen": detail.screen.name, "time_zone": detail.theater.time_zone,
            "zone_abbreviation": abbreviation}


SeatId = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9-]{1,16}$")]


class SeatChoice(BaseModel):
    """Checkout's optional body: a named subset of one's holds (default: all of them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seats: list[SeatId] | None = Field(default=None, max_length=100)
    # Book even when the seats leave a single free seat alone (a basket an
    # orphan was left beside by someone else's release): the buyer was told
    # (``would_orphan``) and keeps the seats.
    accept_orphans: StrictBool = False
    # Where the confirmation and the ticket link go. A guest must give an
    # address; a signed-in buyer's is the account's (``email`` is then ignored).
    email: Email | None = None
    phone: Phone | None = None

    @field_validator("seats")
    @classmethod
    def _distinct(cls, seats: list[str] | None) -> list[str] | None:
        if seats is not None and len(set(seats)) != len(seats):
            raise ValueError("seats must be distinct")
        return seats


class TicketScan(BaseModel):
    """A ticket as a door scanner reads it, and the showtime it scans for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ticket: StrictStr = Field(min_length=1, max_length=128,
                              description="The ticket id read from the QR code.")
    showtime: StrictInt | None = Field(default=None, ge=1, le=MAX_ID)


async def _ticket_scan(request: web.Request) -> TicketScan:
    scan = await optional_body(request, TicketScan)
    if scan is None:
        raise BadRequest("ticket must be the ticket id read from the QR code")
    return scan


def _contact(identity: Identity, choice: SeatChoice | None) -> Contact | None:
    """Where a guest's confirmation goes (refused without an address: the
    ticket would otherwise never leave the browser it was bought in). A
    signed-in buyer's goes to the account's address; a phone given is kept."""
    email = choice.email if choice else None
    phone = choice.phone if choice else None
    if identity.kind == "guest":
        if email is None:
            raise InvalidInput("email: an e-mail address is needed to send you the ticket")
        return Contact(email, phone)
    return Contact(None, phone) if phone else None


def _landing(booking: Booking) -> str:
    """Where the buyer's browser goes after the provider's page: the receipt
    once paid (or still waiting), else back to the map, which says what happened."""
    if booking.status == "expired":
        return f"/showtimes/{booking.showtime}?booking={booking.reference}"
    return f"/bookings/{booking.reference}"


class BookingHandlers:
    def __init__(self, checkout: Checkout, store: BookingStore, keys: IdempotencyStore,
                 tickets: TicketSigner, catalog: CatalogStore,
                 door: Door, links: TicketLinks, *, static_url: str) -> None:
        self._checkout = checkout
        self._links = links
        self._store = store
        self._keys = keys
        self._tickets = tickets
        self._catalog = catalog
        self._door = door
        self._static_url = static_url

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
            # For the door's scanners (kiosk and admin sessions).
            web.post("/api/tickets/verify", self.verify_ticket),
            web.post("/api/tickets/admit", self.admit_ticket),
            web.get("/bookings/{ref}", self.receipt),
            web.get("/tickets/{token}", self.linked_receipt),
            web.get("/tickets/{token}/calendar.ics", self.calendar),
        ]

    @allow(*BUYERS)
    @describe("Check out the caller's holds (or the named ones): a pending booking and "
              "the payment page's address.", body=SeatChoice, body_required=False, status=201,
              errors=[404, 409, 422, 503],
              headers=[("Idempotency-Key", True, "1-255 printable characters; a retry with the "
                        "same key answers the first answer again.")])
    async def create(self, request: web.Request) -> web.Response:
        """Start a checkout, timed by outcome for /metrics: ``created``,
        ``replayed`` (an Idempotency-Key seen before) or the error code."""
        started = time.perf_counter()
        outcome = "internal_error"
        try:
            response, outcome = await self._create(request)
            return response
        except CodedError as err:
            outcome = err.code
            raise
        except DB_DOWN:
            outcome = "unavailable"
            raise
        except web.HTTPException as exc:
            outcome = f"http_{exc.status}"
            raise
        finally:
            self._checkout.latency.observe(outcome, time.perf_counter() - started)

    async def _create(self, request: web.Request) -> tuple[web.Response, str]:
        identity = identity_of(request)
        showtime = showtime_id(request)
        key = request.headers.get("Idempotency-Key", "")
        if not _KEY.match(key):
            raise BadRequest("an Idempotency-Key header (1-255 printable characters) is needed")
        choice = await optional_body(request, SeatChoice)
        seats = None if choice is None else choice.seats
        accept = choice is not None and choice.accept_orphans
        contact = _contact(identity, choice)
        # The fingerprint of a body without accept_orphans (or a contact) is
        # what it was before they existed.
        shape: Any = [seats, True] if accept else seats
        if contact is not None:
            shape = [shape, contact.email, contact.phone]
        fingerprint = request_hash(str(showtime).encode(), orjson.dumps(shape))
        saved = await self._keys.claim(identity.user_id, key, fingerprint)
        if saved is not None:
            return web.Response(status=saved.status, body=saved.body,
                                content_type=JSON,
                                headers={"Idempotent-Replayed": "true"}), "replayed"
        outcome = "created"
        try:
            response = await self._start(request, identity, showtime, seats, accept, contact)
        except CodedError as err:
            if err.status >= 500:
                await self._keys.forget(identity.user_id, key)
                raise
            response, outcome = coded_response(err), err.code
        except BaseException:
            await self._keys.forget(identity.user_id, key)
            raise
        assert isinstance(response.body, bytes)
        await self._keys.finish(identity.user_id, key,
                                SavedResponse(response.status, response.body))
        return response, outcome

    async def _start(self, request: web.Request, identity: Identity, showtime: int,
                     seats: list[str] | None, accept_orphans: bool,
                     contact: Contact | None) -> web.Response:
        booking, pay_url = await self._checkout.start(
            user_id=identity.user_id, showtime=showtime, seats=seats, remote=request.remote,
            accept_orphans=accept_orphans, contact=contact)
        return json_response(public(booking, checkout_url=pay_url), 201)

    async def _owned(self, request: web.Request) -> tuple[Identity, Booking]:
        identity = identity_of(request)
        reference = request.match_info["ref"]
        booking = await self._store.get(reference) if len(reference) <= 32 else None
        if booking is None or booking.user_id != identity.user_id:
            raise NotFound(f"no booking {shown(reference)}")
        return identity, booking

    def _full(self, booking: Booking, detail: ShowtimeDetail | None) -> dict[str, Any]:
        """A booking as its buyer reads it: with its show and, once booked, the ticket."""
        ticket = self._ticket(booking)
        qr = None
        if ticket is not None:
            base = f"/api/bookings/{booking.reference}/ticket"
            qr = {"svg": base + ".svg", "png": base + ".png"}
        return public(booking, show=_show(detail), ticket=ticket, ticket_qr=qr,
                      ticket_url=self._links.url(booking.reference))

    @allow(*BUYERS)
    @describe("One of the caller's bookings, with its show and ticket.", errors=[404])
    async def get(self, request: web.Request) -> web.Response:
        _, booking = await self._owned(request)
        detail = await self._catalog.get_showtime(booking.showtime)
        return json_response(self._full(booking, detail))

    async def _ticket_of(self, request: web.Request) -> str:
        _, booking = await self._owned(request)
        ticket = self._ticket(booking)
        if ticket is None:
            raise NotFound(f"booking {booking.reference} has no ticket: it is {booking.status}")
        return ticket

    @allow(*BUYERS)
    @describe("The booking's ticket as a QR code.", content="image/svg+xml",
              errors=[404])
    async def ticket_svg(self, request: web.Request) -> web.Response:
        ticket = await self._ticket_of(request)
        return web.Response(text=qr_svg(ticket, standalone=True),
                            content_type="image/svg+xml",
                            headers={"Cache-Control": "private, no-store"})

    @allow(*BUYERS)
    @describe("The booking's ticket as a QR code.", content="image/png", errors=[404])
    async def ticket_png(self, request: web.Request) -> web.Response:
        ticket = await self._ticket_of(request)
        return web.Response(body=qr_png(ticket), content_type="image/png",
                            headers={"Cache-Control": "private, no-store"})

    @allow(*BUYERS)
    @describe("The caller's bookings: shows still to come first (soonest first), then "
              "past ones (latest first).")
    async def history(self, request: web.Request) -> web.Response:
        """The caller's orders, each as ``GET /api/bookings/{ref}``, in the
        order a buyer looks for them: what is coming next, then what was."""
        identity = identity_of(request)
        bookings = await self._store.for_user(identity.user_id)
        shows: dict[int, ShowtimeDetail | None] = {}
        for showtime in {b.showtime for b in bookings}:
            shows[showtime] = await self._catalog.get_showtime(showtime)
        now = datetime.now(UTC)

        def order(booking: Booking) -> tuple[int, float]:
            show = shows[booking.showtime]
            start = (show.starts_at if show else booking.created_at).timestamp()
            ended = show.ends_at <= now if show else True
            return (1, -start) if ended else (0, start)

        return json_response([self._full(b, shows[b.showtime])
                              for b in sorted(bookings, key=order)])

    @allow(*BUYERS)
    @describe("Cancel one's booking (refunded by the refund policy).", errors=[404, 409, 503])
    async def cancel(self, request: web.Request) -> web.Response:
        identity, booking = await self._owned(request)
        cancelled = await self._checkout.cancel(booking.reference, user_id=identity.user_id,
                                                remote=request.remote)
        return json_response(public(cancelled))

    def _gateway(self, request: web.Request) -> PaymentGateway:
        gateway = self._checkout.gateway(request.match_info["provider"])
        if gateway is None:
            raise NotFound("no such payment provider")
        return gateway

    # Signed by the provider; the browser may have lost its session.
    @allow(Role.ANONYMOUS)
    @describe("Where the payment provider sends the buyer back (signed, or confirmed "
              "with the provider: Stripe's return is read back from Stripe, 503 when it "
              "does not answer).", status=303, errors=[404, 503])
    async def payment_return(self, request: web.Request) -> web.Response:
        gateway = self._gateway(request)
        try:
            event = await gateway.verify_return(dict(request.query))
        except BadSignature as err:
            await self._store.audit(f"provider:{gateway.name}", "payment.forged_return",
                                    request.remote, {"reason": err.message})
            raise
        if event is None:
            # Back without paying (the page's back link): nothing to apply;
            # the order stays payable until the payment window closes.
            left = await self._store.get(request.query.get("reference", ""))
            if left is None or left.payment is None or left.payment.provider != gateway.name:
                raise NotFound("no such booking")
            raise web.HTTPSeeOther(_landing(left))
        try:
            booking = await self._checkout.apply(gateway.name, event, remote=request.remote)
        except (NotFound, PaymentMismatch):
            raise
        except Exception:
            # PostgreSQL may have decided already (Redis failing after it): the
            # buyer lands on what it says; the provider's webhook redoes the rest.
            log.exception("applying the payment return for order %s failed", event.order_id)
            found = await self._store.by_order(gateway.name, event.order_id)
            if found is None:
                raise
            booking = found
        raise web.HTTPSeeOther(_landing(booking))

    @allow(Role.ANONYMOUS)  # the provider's server, proven by the signature
    @describe("The payment provider's signed event.", errors=[404, 422])
    async def webhook(self, request: web.Request) -> web.Response:
        gateway = self._gateway(request)
        body = await request.read()
        try:
            event = gateway.parse_webhook(request.headers, body)
        except BadSignature as err:
            await self._store.audit(f"provider:{gateway.name}", "payment.forged_webhook",
                                    request.remote, {"reason": err.message})
            raise
        if event is None:
            # Genuine, but no payment fact (an event type we do not act on):
            # acknowledged, so the provider does not send it again.
            return json_response({"received": True, "ignored": True})
        booking = await self._checkout.apply(gateway.name, event, remote=request.remote)
        return json_response({"received": True, "booking": booking.reference,
                      "status": booking.status})

    @allow(Role.KIOSK, Role.ADMIN)
    @describe("Would this ticket admit? Changes nothing.", body=TicketScan)
    async def verify_ticket(self, request: web.Request) -> web.Response:
        """Would this ticket admit? Changes nothing."""
        scan = await _ticket_scan(request)
        return json_response(await self._door.check(scan.ticket.strip(),
                                                    showtime=scan.showtime))

    @allow(Role.KIOSK, Role.ADMIN)
    @describe("Admit the ticket's holder once.", body=TicketScan, errors=[409])
    async def admit_ticket(self, request: web.Request) -> web.Response:
        """Admit the ticket's holder once; a second scan is refused with the time."""
        identity = identity_of(request)
        scan = await _ticket_scan(request)
        return json_response(await self._door.admit(scan.ticket.strip(), showtime=scan.showtime,
                                            actor=f"user:{identity.user_id}",
                                            remote=request.remote))

    def _ticket(self, booking: Booking) -> str | None:
        """A ticket id the door can check offline: reference plus its signature."""
        if booking.status != "booked":
            return None
        return self._tickets.issue(booking.reference)

    # Open, so that a visitor without the session sees "not found", not JSON.
    @allow(Role.ANONYMOUS, *BUYERS)
    @describe("The receipt page.", content="text/html", errors=[404])
    async def receipt(self, request: web.Request) -> web.Response:
        try:
            _, booking = await self._owned(request)
        except (NotFound, Unauthorized, BadMessage):
            raise web.HTTPNotFound() from None
        return await self._receipt_page(booking)

    async def _receipt_page(self, booking: Booking) -> web.Response:
        detail = await self._catalog.get_showtime(booking.showtime)
        page = render_receipt(booking, detail, self._ticket(booking),
                              static_url=self._static_url,
                              link=self._links.url(booking.reference),
                              calendar=self._links.path(booking.reference) + "/calendar.ics")
        return web.Response(content_type="text/html", charset="utf-8", text=page, headers={
            "Cache-Control": "private, no-store",
            **PAGE_HEADERS,
            # The link is the key to the ticket: never in a Referer, even to us.
            "Referrer-Policy": "no-referrer",
        })

    async def _linked(self, request: web.Request) -> Booking:
        """The booking a ticket link opens; a plain 404 for anything not ours."""
        reference = self._links.verify(request.match_info["token"])
        booking = await self._store.get(reference) if reference else None
        if booking is None:
            raise web.HTTPNotFound()
        return booking

    # The link is the credential: no session, so a second device, a partner's
    # phone or a printout's reader opens the ticket as the buyer does.
    @allow(Role.ANONYMOUS)
    @describe("The ticket page a ticket link opens, on any device.", content="text/html",
              errors=[404])
    async def linked_receipt(self, request: web.Request) -> web.Response:
        return await self._receipt_page(await self._linked(request))

    @allow(Role.ANONYMOUS)
    @describe("The booking as a calendar entry (RFC 5545).", content="text/calendar",
              errors=[404])
    async def calendar(self, request: web.Request) -> web.Response:
        booking = await self._linked(request)
        detail = await self._catalog.get_showtime(booking.showtime)
        if detail is None:
            raise web.HTTPNotFound()
        text = booking_ics(booking, detail, link=self._links.url(booking.reference),
                           seats=[seat_name(detail, s.id) for s in booking.seats])
        return web.Response(
            body=text.encode(), content_type="text/calendar", charset="utf-8",
            headers={"Content-Disposition":
                     f'attachment; filename="booking-{booking.reference}.ics"',
                     "Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer",
                     "X-Content-Type-Options": "nosniff"})
