"""HTTP reads of the catalog.

``GET /api/showtimes`` (a list) and ``GET /api/showtimes/{id}`` (a seat map)
keep the shapes DESIGN.md gives them, which the picker, the kiosk and
scripts rely on. The paged query with its filters is
``GET /api/catalog/showtimes``; movies now showing are ``GET /api/catalog/movies``,
and one movie (showing or not, for its film page) ``GET /api/catalog/movies/{movie}``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from aiohttp import web

from seatserver.catalog.availability import Availability
from seatserver.catalog.models import RatedMovie, ShowtimeDetail, ShowtimePage, ShowtimeSummary
from seatserver.catalog.queries import MovieQuery, ShowtimeFilters, ShowtimeQuery
from seatserver.catalog.store import CatalogStore
from seatserver.errors import BadRequest, UnknownShowtime
from seatserver.http.openapi import describe
from seatserver.http.params import found, path_id, query_of, showtime_id
from seatserver.http.responses import json_response
from seatserver.http.roles import Role, allow


@dataclass(frozen=True, slots=True)
class MovieList:
    movies: list[RatedMovie]


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
            web.get("/api/catalog/movies/{movie}", self.get_movie),
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
    @describe("One movie, showing or not, with its rating.", response=RatedMovie,
              errors=[400, 404])
    async def get_movie(self, request: web.Request) -> web.Response:
        movie_id = path_id(request, "movie")
        return json_response(found(await self._store.movie(movie_id), f"movie {movie_id}"))

    @allow(Role.ANONYMOUS)
    @describe("A showtime with its seats and prices.", response=ShowtimeDetail,
              errors=[404])
    async def get_showtime(self, request: web.Request) -> web.Response:
        wanted = showtime_id(request)
        detail = await self._store.get_showtime(wanted)
        if detail is None:
            raise UnknownShowtime(f"there is no showtime {wanted}")
        return json_response(detail)
