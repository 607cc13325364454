"""HTTP reads of the catalog.

``GET /api/showtimes`` (a list) and ``GET /api/showtimes/{id}`` (a seat map)
keep the shapes DESIGN.md gives them, which the picker, the kiosk and
scripts rely on. The paged query with its filters is
``GET /api/catalog/showtimes``; movies now showing are ``GET /api/catalog/movies``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TypeVar, get_args

import orjson
from aiohttp import web
from pydantic import BaseModel

from seatserver.accounts.rbac import Role, allow
from seatserver.catalog.availability import Availability
from seatserver.catalog.models import RatedMovie, ShowtimeDetail, ShowtimePage, ShowtimeSummary
from seatserver.catalog.queries import (
    MovieQuery,
    ShowtimeFilters,
    ShowtimeQuery,
    query_from,
)
from seatserver.catalog.store import CatalogStore
from seatserver.errors import BadRequest, UnknownShowtime
from seatserver.http_inputs import path_number, shown
from seatserver.openapi import describe

Q = TypeVar("Q", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class MovieList:
    movies: list[RatedMovie]


def json_response(body: object) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def showtime_id(request: web.Request) -> int:
    """The ``{id}`` of the path as a showtime id: ``bad_request`` unless it is
    written in digits, ``unknown_showtime`` beyond any id."""
    return path_number(request.match_info["id"], "showtime", UnknownShowtime)


def query_of(request: web.Request, model: type[Q]) -> Q:
    """The URL's parameters as ``model``; ``bad_request`` naming the parameter.

    A whole-number parameter is written in ASCII digits: pydantic would also
    take " 5", "+5" and "5_0", which no link of ours sends.
    """
    for name, value in request.query.items():
        field = model.model_fields.get(name)
        if field is not None and _is_int(field.annotation) and not (
                value.isascii() and value.isdigit()):
            raise BadRequest(f"{name}: must be a whole number in digits 0-9, got {shown(value)}")
    return query_from(model, request.query, [key for key, _ in request.query.items()])


def _is_int(annotation: object) -> bool:
    return annotation is int or int in get_args(annotation)


class CatalogHandlers:
    def __init__(self, store: CatalogStore, availability: Availability) -> None:
        self._store = store
        self._availability = availability

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/showtimes", self.list_showtimes),
            web.get("/api/showtimes/{id}", self.get_showtime),
            web.get("/api/catalog/showtimes", self.find_showtimes),
            web.get("/api/catalog/movies", self.now_showing),
        ]

    @allow(Role.ANONYMOUS)
    @describe("Every upcoming showtime (up to 500) matching the filters, as a list.",
              query=ShowtimeFilters, response=list[ShowtimeSummary])
    async def list_showtimes(self, request: web.Request) -> web.Response:
        """Every upcoming showtime (up to 500) matching the filters, as a plain list."""
        paging = [p for p in ("limit", "cursor") if p in request.query]
        if paging:
            raise BadRequest(f"this list has no pages ({', '.join(paging)}); "
                             "/api/catalog/showtimes has")
        showtimes = await self._store.list_showtimes(query_of(request, ShowtimeQuery))
        counts = await self._availability.free(showtimes) or {}
        return json_response([replace(s, free=counts.get(s.id)) for s in showtimes])

    @allow(Role.ANONYMOUS)
    @describe("Showtimes matching the filters, a page at a time.", query=ShowtimeQuery,
              response=ShowtimePage)
    async def find_showtimes(self, request: web.Request) -> web.Response:
        page = await self._store.find_showtimes(query_of(request, ShowtimeQuery))
        return json_response(await self._availability.counted(page))

    @allow(Role.ANONYMOUS)
    @describe("Movies now showing, with their rating.", query=MovieQuery,
              response=MovieList)
    async def now_showing(self, request: web.Request) -> web.Response:
        movies = await self._store.now_showing(query_of(request, MovieQuery))
        return json_response(MovieList(movies))

    @allow(Role.ANONYMOUS)
    @describe("A showtime with its seats and prices.", response=ShowtimeDetail,
              errors=[404])
    async def get_showtime(self, request: web.Request) -> web.Response:
        wanted = showtime_id(request)
        detail = await self._store.get_showtime(wanted)
        if detail is None:
            raise UnknownShowtime(f"there is no showtime {wanted}")
        return json_response(detail)
