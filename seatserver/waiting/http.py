"""The sale settings of a showtime over HTTP: /api/admin/showtimes/{id}/sale
(admins: read, set, change live, back to the defaults) and the public
/api/showtimes/{id}/queue (on-sale time and how many wait, for boards)."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from seatserver.catalog.admin_http import Auditor
from seatserver.errors import Unavailable, UnknownShowtime
from seatserver.http.bodies import read_body, validated
from seatserver.http.openapi import describe
from seatserver.http.params import path_id
from seatserver.http.responses import json_response
from seatserver.http.roles import Role, allow
from seatserver.waiting.admitter import Admitter
from seatserver.waiting.engine import QueueEngine
from seatserver.waiting.inputs import SaleInput, SalePatch
from seatserver.waiting.models import SaleSettings
from seatserver.waiting.store import SaleStore

log = logging.getLogger(__name__)


def sale_body(settings: SaleSettings, on_sale_before_s: int | None) -> dict[str, Any]:
    """The settings that apply, and where each comes from: ``on_sale_at``
    may be the deployment's default (``on_sale_source``), whose lead over the
    start is ``on_sale_before_s`` (null: there is no default)."""
    at = settings.on_sale_at
    return {"showtime": settings.showtime, "on_sale_at": None if at is None else at.isoformat(),
            "waiting_room": settings.waiting_room, "admission_rate": settings.admission_rate,
            "active_cap": settings.active_cap, "admission_ttl_s": settings.admission_ttl_s,
            "source": settings.source, "on_sale_source": settings.on_sale_source,
            "on_sale_before_s": on_sale_before_s}


class SaleHandlers:
    def __init__(self, store: SaleStore, queue: QueueEngine, admitter: Admitter,
                 auditor: Auditor, *, on_sale_before_s: int | None) -> None:
        self._store = store
        self._before = on_sale_before_s
        self._queue = queue
        self._admitter = admitter
        self._auditor = auditor

    def routes(self) -> list[web.RouteDef]:
        path = "/api/admin/showtimes/{id}/sale"
        return [web.get(path, self.get_sale), web.put(path, self.put_sale),
                web.patch(path, self.patch_sale), web.delete(path, self.delete_sale),
                web.get("/api/showtimes/{id}/queue", self.queue)]

    @allow(Role.ADMIN)
    @describe("A showtime's sale settings: its own, or the deployment's defaults.",
              errors=[404])
    async def get_sale(self, request: web.Request) -> web.Response:
        return json_response(sale_body(await self._store.get(path_id(request)), self._before))

    @allow(Role.ADMIN)
    @describe("Set a showtime's on-sale time and waiting room.", body=SaleInput,
              errors=[404, 422])
    async def put_sale(self, request: web.Request) -> web.Response:
        showtime = path_id(request)
        data = await read_body(request, SaleInput)
        return await self._saved(await self._store.put(
            showtime, data, self._auditor.actor(request)))

    @allow(Role.ADMIN)
    @describe("Change some of a showtime's sale settings, live (the admission rate or the "
              "cap while buyers wait).", body=SalePatch, errors=[404, 422])
    async def patch_sale(self, request: web.Request) -> web.Response:
        showtime = path_id(request)
        patch = await read_body(request, SalePatch)
        current = await self._store.get(showtime)
        # The showtime's own on-sale time: a default one stays the default.
        whole = validated(SaleInput, patch.merged(SaleInput(
            on_sale_at=current.own_on_sale_at, waiting_room=current.waiting_room,
            admission_rate=current.admission_rate, active_cap=current.active_cap,
            admission_ttl_s=current.admission_ttl_s)))
        return await self._saved(await self._store.put(
            showtime, whole, self._auditor.actor(request)))

    @allow(Role.ADMIN)
    @describe("Back to the deployment's default sale settings.", errors=[404])
    async def delete_sale(self, request: web.Request) -> web.Response:
        showtime = path_id(request)
        return await self._saved(await self._store.delete(showtime,
                                                          self._auditor.actor(request)))

    @allow(Role.ANONYMOUS)
    @describe("When a showtime goes on sale and how many buyers wait for it.", errors=[404])
    async def queue(self, request: web.Request) -> web.Response:
        settings = await self._store.get(path_id(request))
        status, _ = await self._queue.status(settings.showtime, [])
        at = settings.on_sale_at
        return json_response({
            "showtime": settings.showtime,
            "on_sale_at": None if at is None else at.isoformat(),
            "waiting_room": settings.waiting_room,
            "waiting": status.waiting if settings.waiting_room else 0,
            "active": status.active if settings.waiting_room else 0})

    async def _saved(self, settings: SaleSettings) -> web.Response:
        """Answer with the settings saved, once Redis obeys them; a Redis away
        now gets them from the admitter's next refresh (PostgreSQL has them)."""
        try:
            keep = await self._store.keep_until(settings.showtime)
            await self._admitter.track(settings, keep)
        except Unavailable:
            log.warning("sale settings of showtime %s saved; Redis is away, they apply "
                        "when it is back", settings.showtime)
        except UnknownShowtime:
            pass  # deleted meanwhile
        return json_response(sale_body(settings, self._before))
