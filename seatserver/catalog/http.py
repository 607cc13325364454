"""HTTP reads of the catalog: ``GET /api/showtimes`` and ``GET /api/showtimes/{id}``."""

from __future__ import annotations

import orjson
from aiohttp import web

from seatserver.catalog.store import MAX_ID, CatalogStore
from seatserver.errors import BadRequest, UnknownShowtime


def json_response(body: object) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def showtime_id(request: web.Request) -> int:
    """The ``{id}`` of the path as a showtime id; ``bad_request`` unless it is one."""
    raw = request.match_info["id"]
    # ASCII digits only: int() would also take "+5", " 5", "1_0" and other scripts' digits.
    if not (raw.isascii() and raw.isdecimal()) or int(raw) > MAX_ID:
        raise BadRequest(f"showtime id must be a whole number, got {raw!r}")
    return int(raw)


class CatalogHandlers:
    def __init__(self, store: CatalogStore) -> None:
        self._store = store

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/showtimes", self.list_showtimes),
            web.get("/api/showtimes/{id}", self.get_showtime),
        ]

    async def list_showtimes(self, request: web.Request) -> web.Response:
        return json_response(await self._store.list_showtimes())

    async def get_showtime(self, request: web.Request) -> web.Response:
        wanted = showtime_id(request)
        detail = await self._store.get_showtime(wanted)
        if detail is None:
            raise UnknownShowtime(f"there is no showtime {wanted}")
        return json_response(detail)
