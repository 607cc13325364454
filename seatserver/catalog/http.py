"""HTTP reads of the catalog.

``GET /api/showtimes`` (a list) and ``GET /api/showtimes/{id}`` (a seat map)
keep the shapes DESIGN.md gives them, which the picker, the kiosk and
scripts rely on. The paged query with its filters is
``GET /api/catalog/showtimes``; movies now showing are ``GET /api/catalog/movies``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

import orjson
from aiohttp import web

from seatserver.accounts.rbac import Role, allow
from seatserver.catalog.availability import Availability
from seatserver.catalog.queries import MAX_ID, MovieQuery, ShowtimeQuery, query_from
from seatserver.catalog.store import CatalogStore
from seatserver.errors import BadRequest, UnknownShowtime

Q = TypeVar("Q", bound=MovieQuery)


def json_response(body: object) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def showtime_id(request: web.Request) -> int:
    """The ``{id}`` of the path as a showtime id; ``bad_request`` unless it is one."""
    raw = request.match_info["id"]
    # ASCII digits only: int() would also take "+5", " 5", "1_0" and other scripts' digits.
    if not (raw.isascii() and raw.isdecimal()) or int(raw) > MAX_ID:
        raise BadRequest(f"showtime id must be a whole number, got {raw!r}")
    return int(raw)


def _query(request: web.Request, model: type[Q]) -> Q:
    parsed = query_from(model, request.query, [key for key, _ in request.query.items()])
    assert isinstance(parsed, model)
    return parsed


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
    async def list_showtimes(self, request: web.Request) -> web.Response:
        """Every upcoming showtime (up to 500) matching the filters, as a plain list."""
        paging = [p for p in ("limit", "cursor") if p in request.query]
        if paging:
            raise BadRequest(f"this list has no pages ({', '.join(paging)}); "
                             "/api/catalog/showtimes has")
        showtimes = await self._store.list_showtimes(_query(request, ShowtimeQuery))
        counts = await self._availability.free(showtimes) or {}
        return json_response([replace(s, free=counts.get(s.id)) for s in showtimes])

    @allow(Role.ANONYMOUS)
    async def find_showtimes(self, request: web.Request) -> web.Response:
        page = await self._store.find_showtimes(_query(request, ShowtimeQuery))
        return json_response(await self._availability.counted(page))

    @allow(Role.ANONYMOUS)
    async def now_showing(self, request: web.Request) -> web.Response:
        movies = await self._store.now_showing(_query(request, MovieQuery))
        return json_response({"movies": movies})

    @allow(Role.ANONYMOUS)
    async def get_showtime(self, request: web.Request) -> web.Response:
        wanted = showtime_id(request)
        detail = await self._store.get_showtime(wanted)
        if detail is None:
            raise UnknownShowtime(f"there is no showtime {wanted}")
        return json_response(detail)
