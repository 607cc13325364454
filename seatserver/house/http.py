"""House seats and the box office over HTTP.

``/api/admin/showtimes/{id}/blocks``: admins block seats (house, press,
broken, other with a note); admins and the box office list them and release
them back to online sale. ``/api/counter/showtimes/{id}/sales``: the box
office (and admins) sell seats, free or blocked, paid in cash or by a card
presented at the counter. Every change is audited with who made it.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

import orjson
from aiohttp import web

from seatserver.accounts.proxies import TrustedProxies
from seatserver.accounts.rbac import identity_of
from seatserver.audit import Actor
from seatserver.bookings.idempotency import IdempotencyStore, SavedResponse, request_hash
from seatserver.errors import BadRequest, CodedError
from seatserver.house.counter import Counter
from seatserver.house.inputs import BlockRequest, CounterSaleRequest, SeatsRequest
from seatserver.house.seats import HouseSeats
from seatserver.house.store import Block, CounterSale
from seatserver.http.bodies import read_body
from seatserver.http.errors import coded_response
from seatserver.http.openapi import describe
from seatserver.http.params import showtime_id
from seatserver.http.responses import NO_STORE, json_response
from seatserver.http.roles import Role, allow

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
JSON = "application/json"


def _block(block: Block) -> dict[str, Any]:
    return {"seat": block.seat, "reason": block.reason, "note": block.note,
            "blocked_by": block.blocked_by, "blocked_at": block.blocked_at.isoformat()}


def _sale(sale: CounterSale) -> dict[str, Any]:
    shown = asdict(sale)
    shown["amount"] = {"amount": sale.amount, "currency": sale.currency}
    del shown["currency"]
    return shown


class HouseHandlers:
    def __init__(self, seats: HouseSeats, counter: Counter, keys: IdempotencyStore,
                 proxies: TrustedProxies) -> None:
        self._seats = seats
        self._counter = counter
        self._keys = keys
        self._proxies = proxies

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/admin/showtimes/{id}/blocks", self.list),
            web.post("/api/admin/showtimes/{id}/blocks", self.block),
            web.post("/api/admin/showtimes/{id}/blocks/release", self.release),
            web.post("/api/counter/showtimes/{id}/sales", self.sell),
        ]

    def _actor(self, request: web.Request) -> Actor:
        return Actor.user(identity_of(request).user_id, self._proxies.client_address(request))

    @allow(Role.ADMIN, Role.BOX_OFFICE)
    @describe("The showtime's blocked seats, with why and who blocked them.", errors=[404])
    async def list(self, request: web.Request) -> web.Response:
        blocks = await self._seats.blocks(showtime_id(request))
        return json_response({"blocks": [_block(b) for b in blocks]}, headers=NO_STORE)

    @allow(Role.ADMIN)
    @describe("Block seats off online sale (house seats, press, broken; other with a "
              "note); a seat held online or sold refuses the request, named. Blocking "
              "a blocked seat again changes its reason. Audited.",
              body=BlockRequest, errors=[404, 409, 422])
    async def block(self, request: web.Request) -> web.Response:
        showtime = showtime_id(request)
        form = await read_body(request, BlockRequest)
        blocks = await self._seats.block(showtime, form.seats, reason=form.reason,
                                         note=form.note, actor=self._actor(request),
                                         actor_id=identity_of(request).user_id)
        return json_response({"blocks": [_block(b) for b in blocks]}, headers=NO_STORE)

    @allow(Role.ADMIN, Role.BOX_OFFICE)
    @describe("Release blocked seats back to online sale; seats not blocked are left as "
              "they are. Audited.", body=SeatsRequest, errors=[404, 422])
    async def release(self, request: web.Request) -> web.Response:
        showtime = showtime_id(request)
        form = await read_body(request, SeatsRequest)
        released = await self._seats.unblock(showtime, form.seats, actor=self._actor(request))
        return json_response({"released": released}, headers=NO_STORE)

    @allow(Role.BOX_OFFICE, Role.ADMIN)
    @describe("Sell seats at the counter, free or blocked, paid in cash or by a card "
              "presented (recorded as such; booked at once). Audited.",
              body=CounterSaleRequest, status=201, errors=[404, 409, 422],
              headers=[("Idempotency-Key", True, "1-255 printable characters; a retry with the "
                        "same key answers the first answer again, selling nothing more.")])
    async def sell(self, request: web.Request) -> web.Response:
        identity = identity_of(request)
        showtime = showtime_id(request)
        key = request.headers.get("Idempotency-Key", "")
        if not _KEY.match(key):
            raise BadRequest("Idempotency-Key: a header of 1-255 printable characters is "
                             "needed, so that a retry sells nothing twice")
        form = await read_body(request, CounterSaleRequest)
        fingerprint = request_hash(b"counter", str(showtime).encode(),
                                   orjson.dumps([form.seats, form.method, form.email]))
        saved = await self._keys.claim(identity.user_id, key, fingerprint)
        if saved is not None:
            return web.Response(status=saved.status, body=saved.body, content_type=JSON,
                                headers={"Idempotent-Replayed": "true", **NO_STORE})
        try:
            sale = await self._counter.sell(showtime, form.seats, method=form.method,
                                            email=form.email, staff_id=identity.user_id,
                                            actor=self._actor(request))
            response = json_response(_sale(sale), 201, headers=NO_STORE)
        except CodedError as err:
            if err.status >= 500:
                await self._keys.forget(identity.user_id, key)
                raise
            response = coded_response(err)
        except BaseException:
            await self._keys.forget(identity.user_id, key)
            raise
        assert isinstance(response.body, bytes)
        await self._keys.finish(identity.user_id, key,
                                SavedResponse(response.status, response.body))
        return response
