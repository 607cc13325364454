"""The admin API for bookings: look-up, cancel with refund, what needs attention,
and dead outbox messages.

``GET /api/admin/bookings`` finds bookings by reference, buyer (e-mail or
user id) or showtime. ``POST /api/admin/bookings/{ref}/cancel`` cancels
through the buyer's own cancel path (refund first, seats freed after) but past
the buyer's cut-off too; its audit row says so; a refund above
``refund_reauth_above`` needs a two-factor code from the last five minutes.
Admins only; every change is audited (a cancel by ``BookingStore.cancel`` in
its own transaction).
"""

from __future__ import annotations

import re
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from seatserver.accounts.rbac import identity_of, require_recent_code
from seatserver.bookings.checkout import Checkout
from seatserver.bookings.store import BookingStore
from seatserver.catalog.admin_http import Auditor
from seatserver.catalog.inputs import Id
from seatserver.db import MAX_ID
from seatserver.errors import InvalidInput, NotFound
from seatserver.http.bodies import read_body
from seatserver.http.openapi import describe
from seatserver.http.params import shown
from seatserver.http.responses import json_response
from seatserver.http.roles import Role, allow
from seatserver.outbox.worker import OutboxStore

_REFERENCE = r"^[A-HJ-NP-Z2-9]{6,16}$"  # the alphabet of new_reference
_REFERENCE_RE = re.compile(_REFERENCE)


class BookingSearch(BaseModel):
    """The query of a look-up: at least one criterion, all must match."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    reference: str | None = Field(default=None, pattern=_REFERENCE)
    email: str | None = Field(default=None, min_length=3, max_length=254, pattern=r"@")
    user_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    showtime: int | None = Field(default=None, ge=1, le=MAX_ID)


class AdminCancel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=500,
                        description="Why support cancels: kept in the audit log.")
    refund: int | None = Field(default=None, ge=0, description=(
        "Minor units to refund, up to the total; left out: what the policy gives now "
        "(nothing past the cut-off)."))


class Requeue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ids: Annotated[list[Id], Field(min_length=1, max_length=1000)]


def _search(request: web.Request) -> BookingSearch:
    query = {key: value for key, value in request.query.items()}
    if len(query) != len(request.query):
        raise InvalidInput("give each search criterion once")
    try:
        search = BookingSearch.model_validate(query)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"{where}: {first['msg']}") from None
    if not search.model_dump(exclude_none=True):
        raise InvalidInput("reference, email, user_id or showtime: give at least one")
    return search


class BookingAdminHandlers:
    def __init__(self, checkout: Checkout, bookings: BookingStore, outbox: OutboxStore,
                 auditor: Auditor, *, refund_reauth_above: int) -> None:
        self._checkout = checkout
        self._refund_reauth_above = refund_reauth_above
        self._bookings = bookings
        self._outbox = outbox
        self._auditor = auditor

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/admin/bookings", self.search),
            web.get("/api/admin/bookings/attention", self.attention),
            web.post("/api/admin/bookings/{ref}/cancel", self.cancel),
            web.get("/api/admin/outbox/dead", self.dead_messages),
            web.post("/api/admin/outbox/requeue", self.requeue),
        ]

    @allow(Role.ADMIN)
    @describe("Find bookings (at least one criterion).", query=BookingSearch, errors=[422])
    async def search(self, request: web.Request) -> web.Response:
        search = _search(request)
        found = await self._bookings.search(
            reference=search.reference, user_id=search.user_id, email=search.email,
            showtime=search.showtime)
        return json_response({"bookings": found})

    @allow(Role.ADMIN)
    @describe("Bookings flagged for support.")
    async def attention(self, request: web.Request) -> web.Response:
        return json_response({"bookings": await self._bookings.needing_attention()})

    @allow(Role.ADMIN)
    @describe("Cancel a booking as support, past the cut-off too (audited); a refund "
              "above SEATSERVER_REFUND_REAUTH_ABOVE needs a recent two-factor code.",
              body=AdminCancel, errors=[404, 409, 422, 503])
    async def cancel(self, request: web.Request) -> web.Response:
        reference = request.match_info["ref"].upper()
        if not _REFERENCE_RE.fullmatch(reference):
            raise NotFound(f"no booking reference looks like {shown(reference)}")
        data = await read_body(request, AdminCancel)

        def approve(amount: int) -> None:
            if amount > self._refund_reauth_above:
                require_recent_code(request, f"a refund above {self._refund_reauth_above}")

        cancelled = await self._checkout.cancel_as_admin(
            reference, admin_id=identity_of(request).user_id,
            remote=self._auditor.address(request), refund=data.refund, reason=data.reason,
            approve=approve)
        return json_response(cancelled)

    @allow(Role.ADMIN)
    @describe("Messages the outbox gave up on.")
    async def dead_messages(self, request: web.Request) -> web.Response:
        return json_response({"messages": await self._outbox.dead()})

    @allow(Role.ADMIN)
    @describe("Send dead messages again (audited).", body=Requeue, errors=[404, 422])
    async def requeue(self, request: web.Request) -> web.Response:
        data = await read_body(request, Requeue)
        dead = {m.id: m for m in await self._outbox.dead(limit=10_000)}
        requeued = await self._outbox.requeue(data.ids)
        if not requeued:
            raise NotFound("none of these messages is dead: nothing to requeue")
        await self._auditor.record(request, "outbox.requeued",
                                   [dead[i] for i in requeued if i in dead],
                                   {"requeued": requeued})
        return json_response({"requeued": requeued})
