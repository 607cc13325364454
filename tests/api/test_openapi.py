"""/api/openapi.json: every route described, from the models that validate."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from seatserver.http.openapi import describe, undescribed
from seatserver.http.roles import Role, allow
from seatserver.reviews.models import ReviewInput
from tests.realtime.conftest import make_server, server, settings

__all__ = ["make_server", "server", "settings"]


async def document(server: TestServer) -> Any:
    async with aiohttp.ClientSession() as http, \
            http.get(server.make_url("/api/openapi.json")) as resp:
        assert (resp.status, resp.content_type) == (200, "application/json")
        return await resp.json()


async def test_every_route_of_the_app_is_described(server: TestServer) -> None:
    assert server.app is not None
    assert undescribed(server.app) == []


def test_a_route_added_without_a_description_is_named() -> None:
    app = web.Application()

    @allow(Role.ANONYMOUS)
    async def forgotten(request: web.Request) -> web.Response:
        return web.Response()

    @allow(Role.ANONYMOUS)
    @describe("Described.")
    async def remembered(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_post("/api/forgotten/{id}", forgotten)
    app.router.add_get("/api/remembered", remembered)

    assert undescribed(app) == ["POST /api/forgotten/{id}"]


async def test_the_document_has_every_route_with_typed_parameters_and_one_schema_per_model(
        server: TestServer) -> None:
    doc = await document(server)
    assert server.app is not None
    routes = {(r.method.lower(), r.resource.canonical) for r in server.app.router.routes()
              if r.method != "HEAD" and r.resource is not None}

    operations = {(method, path) for path, item in doc["paths"].items() for method in item}
    review = doc["paths"]["/api/movies/{movie}/reviews"]["post"]
    movie = next(p for p in review["parameters"] if p["name"] == "movie")
    body = review["requestBody"]["content"]["application/json"]["schema"]
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', str(doc).replace("'", '"')))

    assert doc["openapi"] == "3.1.0"
    assert operations == routes
    assert movie["schema"]["type"] == "integer"
    assert body == {"$ref": "#/components/schemas/ReviewInput"}
    assert doc["components"]["schemas"]["ReviewInput"] == \
        ReviewInput.model_json_schema(ref_template="#/components/schemas/{model}")
    assert refs <= set(doc["components"]["schemas"])
    assert set(review["responses"]) >= {"201", "400", "401", "403", "404", "409", "422"}
    assert review["security"] == [{"session": [], "csrf": []}, {"bearer": []}]
    assert set(doc["components"]["securitySchemes"]) == {"session", "csrf", "bearer"}
    assert doc["paths"]["/api/catalog/movies"]["get"]["security"] == []
    # A path value the route's pattern does not take (/showtimes/false) is no route: 404.
    assert "404" in doc["paths"]["/showtimes/{id}"]["get"]["responses"]
