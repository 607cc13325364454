"""The admin API for the catalog: /api/admin/{movies,theaters,screens,showtimes,prices}.

Thin handlers over ``CatalogAdminStore``: the body is validated into the
input models of ``catalog.inputs`` (``invalid_input`` / ``bad_layout`` naming
the field), the store refuses what the database would hold wrong, and writes
every change with its audit row (the admin, their address, before and after)
in one transaction. Admins only.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from seatserver.accounts.proxies import TrustedProxies
from seatserver.accounts.rbac import identity_of
from seatserver.audit import Actor, AuditEntry, AuditStore
from seatserver.catalog.admin import CatalogAdminStore
from seatserver.catalog.inputs import (
    MovieInput,
    PriceOverrideInput,
    PriceRuleInput,
    ScreenInput,
    ShowtimeInput,
    TheaterInput,
    input_error,
)
from seatserver.catalog.layouts import SEAT_TYPE_PATTERN
from seatserver.catalog.queries import ShowtimeQuery
from seatserver.errors import BadRequest
from seatserver.http.bodies import read_body
from seatserver.http.openapi import describe
from seatserver.http.params import found, path_id, query_of
from seatserver.http.responses import json_response
from seatserver.http.roles import Role, allow

_SEAT_TYPE = re.compile(SEAT_TYPE_PATTERN)

class Auditor:
    """Names the admin behind a request and their address, for the audit log."""

    def __init__(self, audit: AuditStore, proxies: TrustedProxies) -> None:
        self._audit = audit
        self._proxies = proxies

    def address(self, request: web.Request) -> str:
        return self._proxies.client_address(request)

    def actor(self, request: web.Request) -> Actor:
        return Actor.user(identity_of(request).user_id, self.address(request))

    async def record(self, request: web.Request, action: str, before: object, after: object,
                     **extra: Any) -> None:
        """A row for a change that is not the catalog's (those write their own)."""
        await self._audit.record(AuditEntry(
            self.actor(request), action, before=before, after=after,
            booking_id=extra.pop("booking_id", None), note=extra))


class CatalogAdminHandlers:
    def __init__(self, store: CatalogAdminStore, auditor: Auditor) -> None:
        self._store = store
        self._auditor = auditor

    def routes(self) -> list[web.RouteDef]:
        base = "/api/admin"
        return [
            web.get(f"{base}/movies", self.list_movies),
            web.post(f"{base}/movies", self.create_movie),
            web.get(f"{base}/movies/{{id}}", self.get_movie),
            web.put(f"{base}/movies/{{id}}", self.update_movie),
            web.delete(f"{base}/movies/{{id}}", self.delete_movie),
            web.get(f"{base}/theaters", self.list_theaters),
            web.post(f"{base}/theaters", self.create_theater),
            web.get(f"{base}/theaters/{{id}}", self.get_theater),
            web.put(f"{base}/theaters/{{id}}", self.update_theater),
            web.delete(f"{base}/theaters/{{id}}", self.delete_theater),
            web.get(f"{base}/theaters/{{id}}/prices", self.price_rules),
            web.post(f"{base}/screens", self.create_screen),
            web.get(f"{base}/screens/{{id}}", self.get_screen),
            web.put(f"{base}/screens/{{id}}", self.update_screen),
            web.delete(f"{base}/screens/{{id}}", self.delete_screen),
            web.get(f"{base}/showtimes", self.list_showtimes),
            web.post(f"{base}/showtimes", self.create_showtime),
            web.put(f"{base}/showtimes/{{id}}", self.update_showtime),
            web.delete(f"{base}/showtimes/{{id}}", self.delete_showtime),
            web.get(f"{base}/showtimes/{{id}}/prices", self.showtime_prices),
            web.put(f"{base}/showtimes/{{id}}/prices", self.set_price_override),
            web.delete(f"{base}/showtimes/{{id}}/prices/{{seat_type}}",
                       self.delete_price_override),
            web.put(f"{base}/prices", self.set_price_rule),
            web.delete(f"{base}/prices/{{id}}", self.delete_price_rule),
        ]

    # -- movies ---------------------------------------------------------------

    @allow(Role.ADMIN)
    @describe("Every movie.")
    async def list_movies(self, request: web.Request) -> web.Response:
        return json_response({"movies": await self._store.movies()})

    @allow(Role.ADMIN)
    @describe("Add a movie.", body=MovieInput, status=201, errors=[409, 422])
    async def create_movie(self, request: web.Request) -> web.Response:
        data = await read_body(request, MovieInput, input_error)
        return json_response(await self._store.create_movie(data, self._by(request)), 201)

    @allow(Role.ADMIN)
    @describe("One movie.", errors=[404])
    async def get_movie(self, request: web.Request) -> web.Response:
        movie_id = path_id(request)
        return json_response(found(await self._store.get_movie(movie_id), f"movie {movie_id}"))

    @allow(Role.ADMIN)
    @describe("Change a movie.", body=MovieInput, errors=[404, 409, 422])
    async def update_movie(self, request: web.Request) -> web.Response:
        movie_id = path_id(request)
        data = await read_body(request, MovieInput, input_error)
        return json_response(await self._store.update_movie(movie_id, data, self._by(request)))

    @allow(Role.ADMIN)
    @describe("Delete a movie no showtime needs.", status=204, errors=[404, 409])
    async def delete_movie(self, request: web.Request) -> web.Response:
        await self._store.delete_movie(path_id(request), self._by(request))
        return web.Response(status=204)

    # -- theaters -------------------------------------------------------------

    @allow(Role.ADMIN)
    @describe("Every theater.")
    async def list_theaters(self, request: web.Request) -> web.Response:
        return json_response({"theaters": await self._store.theaters()})

    @allow(Role.ADMIN)
    @describe("Add a theater.", body=TheaterInput, status=201, errors=[409, 422])
    async def create_theater(self, request: web.Request) -> web.Response:
        data = await read_body(request, TheaterInput, input_error)
        return json_response(await self._store.create_theater(data, self._by(request)), 201)

    @allow(Role.ADMIN)
    @describe("One theater with its screens.", errors=[404])
    async def get_theater(self, request: web.Request) -> web.Response:
        theater_id = path_id(request)
        return json_response(found(await self._store.get_theater(theater_id),
                                   f"theater {theater_id}"))

    @allow(Role.ADMIN)
    @describe("Change a theater.", body=TheaterInput, errors=[404, 409, 422])
    async def update_theater(self, request: web.Request) -> web.Response:
        theater_id = path_id(request)
        data = await read_body(request, TheaterInput, input_error)
        return json_response(await self._store.update_theater(theater_id, data,
                                                              self._by(request)))

    @allow(Role.ADMIN)
    @describe("Delete a theater no showtime needs.", status=204, errors=[404, 409])
    async def delete_theater(self, request: web.Request) -> web.Response:
        await self._store.delete_theater(path_id(request), self._by(request))
        return web.Response(status=204)

    @allow(Role.ADMIN)
    @describe("A theater's price rules.", errors=[404])
    async def price_rules(self, request: web.Request) -> web.Response:
        theater_id = path_id(request)
        found(await self._store.get_theater(theater_id), f"theater {theater_id}")
        return json_response({"rules": await self._store.price_rules(theater_id)})

    # -- screens --------------------------------------------------------------

    @allow(Role.ADMIN)
    @describe("Add a screen with its seat layout.", body=ScreenInput, status=201,
              errors=[404, 409, 422])
    async def create_screen(self, request: web.Request) -> web.Response:
        data = await read_body(request, ScreenInput, input_error)
        return json_response(await self._store.create_screen(data, self._by(request)), 201)

    @allow(Role.ADMIN)
    @describe("One screen with its seat layout.", errors=[404])
    async def get_screen(self, request: web.Request) -> web.Response:
        screen_id = path_id(request)
        return json_response(found(await self._store.get_screen(screen_id),
                                   f"screen {screen_id}"))

    @allow(Role.ADMIN)
    @describe("Change a screen or its layout.", body=ScreenInput, errors=[404, 409, 422])
    async def update_screen(self, request: web.Request) -> web.Response:
        screen_id = path_id(request)
        data = await read_body(request, ScreenInput, input_error)
        return json_response(await self._store.update_screen(screen_id, data,
                                                             self._by(request)))

    @allow(Role.ADMIN)
    @describe("Delete a screen no showtime needs.", status=204, errors=[404, 409])
    async def delete_screen(self, request: web.Request) -> web.Response:
        await self._store.delete_screen(path_id(request), self._by(request))
        return web.Response(status=204)

    # -- showtimes ------------------------------------------------------------

    @allow(Role.ADMIN)
    @describe("Showtimes by theater, screen, movie or day, in pages.", query=ShowtimeQuery)
    async def list_showtimes(self, request: web.Request) -> web.Response:
        """The paged listing of ``GET /api/catalog/showtimes`` (same filters,
        ``screen`` among them), without the free-seat counts."""
        return json_response(await self._store.showtimes(query_of(request, ShowtimeQuery)))

    @allow(Role.ADMIN)
    @describe("Schedule a showtime.", body=ShowtimeInput, status=201, errors=[404, 409, 422])
    async def create_showtime(self, request: web.Request) -> web.Response:
        data = await read_body(request, ShowtimeInput, input_error)
        return json_response(await self._store.create_showtime(data, self._by(request)), 201)

    @allow(Role.ADMIN)
    @describe("Move or change a showtime.", body=ShowtimeInput, errors=[404, 409, 422])
    async def update_showtime(self, request: web.Request) -> web.Response:
        showtime_id = path_id(request)
        data = await read_body(request, ShowtimeInput, input_error)
        return json_response(await self._store.update_showtime(showtime_id, data,
                                                               self._by(request)))

    @allow(Role.ADMIN)
    @describe("Delete a showtime with no sales.", status=204, errors=[404, 409])
    async def delete_showtime(self, request: web.Request) -> web.Response:
        await self._store.delete_showtime(path_id(request), self._by(request))
        return web.Response(status=204)

    @allow(Role.ADMIN)
    @describe("A showtime's price per seat type, and which are its own.", errors=[404])
    async def showtime_prices(self, request: web.Request) -> web.Response:
        return json_response(await self._store.showtime_prices(path_id(request)))

    @allow(Role.ADMIN)
    @describe("Set a showtime's price of a seat type.", body=PriceOverrideInput,
              errors=[404, 409, 422])
    async def set_price_override(self, request: web.Request) -> web.Response:
        showtime_id = path_id(request)
        data = await read_body(request, PriceOverrideInput, input_error)
        return json_response(await self._store.set_price_override(showtime_id, data,
                                                                  self._by(request)))

    @allow(Role.ADMIN)
    @describe("Back to the theater's rule for a seat type.", errors=[404, 409])
    async def delete_price_override(self, request: web.Request) -> web.Response:
        showtime_id = path_id(request)
        seat_type = request.match_info["seat_type"]
        if not _SEAT_TYPE.fullmatch(seat_type):
            raise BadRequest(f"seat_type: {seat_type!r} is not a seat type code")
        return json_response(await self._store.delete_price_override(
            showtime_id, seat_type, self._by(request)))

    # -- price rules ----------------------------------------------------------

    @allow(Role.ADMIN)
    @describe("Set a theater's price of a seat type on weekdays or weekends.",
              body=PriceRuleInput, also={201: "Created"}, errors=[404, 409, 422])
    async def set_price_rule(self, request: web.Request) -> web.Response:
        data = await read_body(request, PriceRuleInput, input_error)
        rule, created = await self._store.set_price_rule(data, self._by(request))
        return json_response(rule, 201 if created else 200)

    @allow(Role.ADMIN)
    @describe("Delete a price rule.", status=204, errors=[404, 409])
    async def delete_price_rule(self, request: web.Request) -> web.Response:
        await self._store.delete_price_rule(path_id(request), self._by(request))
        return web.Response(status=204)

    def _by(self, request: web.Request) -> Actor:
        return self._auditor.actor(request)
