"""The admin API of webhooks: ``/api/admin/webhooks…``.

Endpoints are registered, changed, disabled, deleted and given a new secret
here; a secret is in the answer of ``POST /api/admin/webhooks`` and of
``…/rotate`` and never again. Each endpoint's deliveries are listed with
their attempts, and a delivered or dead one can be sent again. Admins only;
every change is audited, never with a secret in it.
"""

from __future__ import annotations

from aiohttp import web

from seatserver.catalog.admin_http import Auditor
from seatserver.errors import InvalidInput, RequestInFlight
from seatserver.http.bodies import read_body
from seatserver.http.openapi import describe
from seatserver.http.params import path_number, query_of
from seatserver.http.responses import json_response
from seatserver.http.roles import Role, allow
from seatserver.webhooks.inputs import DeliveryQuery, EndpointChange, EndpointIn
from seatserver.webhooks.store import WebhookStore
from seatserver.webhooks.targets import RefusedTarget, check_url


def _endpoint_id(request: web.Request) -> int:
    return path_number(request.match_info["id"], "webhook endpoint")


class WebhookAdminHandlers:
    def __init__(self, store: WebhookStore, auditor: Auditor, *, allow_local: bool) -> None:
        self._store = store
        self._auditor = auditor
        self._allow_local = allow_local

    def routes(self) -> list[web.RouteDef]:
        base = "/api/admin/webhooks"
        return [
            web.get(base, self.list_endpoints),
            web.post(base, self.create),
            web.get(base + "/{id}", self.show),
            web.patch(base + "/{id}", self.change),
            web.delete(base + "/{id}", self.delete),
            web.post(base + "/{id}/rotate", self.rotate),
            web.get(base + "/{id}/deliveries", self.deliveries),
            web.post(base + "/deliveries/{id}/resend", self.resend),
        ]

    def _url(self, url: str) -> str:
        try:
            return check_url(url, allow_local=self._allow_local)
        except RefusedTarget as exc:
            raise InvalidInput(f"url: {exc}") from None

    @allow(Role.ADMIN)
    @describe("Registered webhook endpoints (no secrets), with their pending and dead "
              "deliveries.")
    async def list_endpoints(self, request: web.Request) -> web.Response:
        return json_response({"endpoints": await self._store.endpoints()})

    @allow(Role.ADMIN)
    @describe("Register an endpoint (audited); the answer holds its signing secret, "
              "shown this once.", body=EndpointIn, status=201, errors=[404, 422])
    async def create(self, request: web.Request) -> web.Response:
        data = await read_body(request, EndpointIn)
        self._url(data.url)
        endpoint, secret = await self._store.create(data)
        await self._auditor.record(request, "webhook.created", None, endpoint)
        return json_response({**endpoint, "secret": secret}, status=201)

    @allow(Role.ADMIN)
    @describe("One endpoint (no secret).", errors=[404])
    async def show(self, request: web.Request) -> web.Response:
        return json_response(await self._store.endpoint(_endpoint_id(request)))

    @allow(Role.ADMIN)
    @describe("Change an endpoint: URL, events, showtime, description, enabled (audited).",
              body=EndpointChange, errors=[404, 422])
    async def change(self, request: web.Request) -> web.Response:
        endpoint_id = _endpoint_id(request)
        data = await read_body(request, EndpointChange)
        if not data.model_fields_set:
            raise InvalidInput("give at least one field to change")
        if data.url is not None:
            self._url(data.url)
        before, after = await self._store.change(endpoint_id, data)
        await self._auditor.record(request, "webhook.changed", before, after)
        return json_response(after)

    @allow(Role.ADMIN)
    @describe("Delete an endpoint and its deliveries (audited).", errors=[404])
    async def delete(self, request: web.Request) -> web.Response:
        before = await self._store.delete(_endpoint_id(request))
        await self._auditor.record(request, "webhook.deleted", before, None)
        return json_response({"deleted": before["id"]})

    @allow(Role.ADMIN)
    @describe("A new signing secret, shown this once; the old one keeps signing beside "
              "it for 24 hours (audited).", errors=[404])
    async def rotate(self, request: web.Request) -> web.Response:
        endpoint, secret = await self._store.rotate(_endpoint_id(request))
        await self._auditor.record(request, "webhook.secret_rotated", None,
                                   {"id": endpoint["id"]})
        return json_response({**endpoint, "secret": secret})

    @allow(Role.ADMIN)
    @describe("An endpoint's deliveries, newest first, each with its attempts (time, "
              "status code, error, latency).", query=DeliveryQuery, errors=[404])
    async def deliveries(self, request: web.Request) -> web.Response:
        endpoint_id = _endpoint_id(request)
        query = query_of(request, DeliveryQuery)
        return json_response({"deliveries": await self._store.deliveries(
            endpoint_id, query.status, query.limit)})

    @allow(Role.ADMIN)
    @describe("Send a delivered or dead delivery again, first in its showtime's queue "
              "(audited); 409 while it is still pending.", errors=[404, 409])
    async def resend(self, request: web.Request) -> web.Response:
        delivery_id = path_number(request.match_info["id"], "webhook delivery")
        found = await self._store.resend(delivery_id)
        if found is None:
            raise RequestInFlight("this delivery is still pending: it will be sent anyway")
        before, endpoint = found
        await self._auditor.record(request, "webhook.resent", {"status": before},
                                   {"status": "pending"}, delivery=delivery_id,
                                   endpoint=endpoint)
        return json_response({"id": delivery_id, "status": "pending"})
