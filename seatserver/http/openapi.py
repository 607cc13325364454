"""``GET /api/openapi.json``: an OpenAPI 3.1 document of every HTTP route.

Each handler says what it takes and answers with ``@describe(...)`` beside
its ``@allow(...)``: the pydantic models that validate its body and query
(their ``model_json_schema`` is the schema, so the document cannot drift from
the validation), its answer's type and the errors it may answer. This module
walks ``app.router`` and writes the document; ``undescribed`` names the routes
that describe nothing, and a test fails on any, so a new route cannot be left
out. Who may call a route (and so its security and its 401/403 answers) comes
from ``@allow``; the statuses every route may answer (503 when a backing
service is down, 400 for a malformed request) are added here, in one place.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, TypeAdapter

from seatserver import __version__
from seatserver.db import MAX_ID
from seatserver.errors import CODES
from seatserver.http.roles import Role, allow, declared_roles

H = TypeVar("H", bound=Callable[..., Awaitable[web.StreamResponse]])
_ATTRIBUTE = "__seatserver_openapi__"
_PARAMETER = re.compile(r"{(\w+)(?::[^}]*)?}")
_REF = "#/components/schemas/{model}"
JSON = "application/json"
HTML = "text/html"

# Path parameters by name: row ids are integers from 1, references are codes.
_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "id": _ID, "movie": _ID, "review": _ID,
    "ref": {"type": "string", "pattern": "^[A-Za-z0-9]{10}$",
            "description": "A booking reference."},
    "seat": {"type": "string", "pattern": "^[A-Za-z0-9-]{1,16}$", "description": "A seat id."},
}
_STATUS_TEXT = {
    200: "OK", 201: "Created", 204: "No content", 302: "Redirect", 304: "Not modified",
    400: "bad_request: a malformed path, query or body",
    401: "unauthorized: no valid session",
    403: "forbidden (a role that may not call this) or csrf_failed",
    404: "not_found", 409: "A conflict with the current state (see the code)",
    413: "bad_request: the body is too large", 422: "The body does not validate (see the code)",
    429: "rate_limited (with Retry-After)",
    503: "unavailable: Redis or PostgreSQL cannot be reached; retry shortly",
}


@dataclass(frozen=True)
class Description:
    """What ``@describe`` records about a handler."""

    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: Any = None  # a type pydantic can describe (a model, a dataclass, a list...)
    status: int = 200
    content: str = JSON
    errors: tuple[int, ...] = ()
    headers: tuple[tuple[str, bool, str], ...] = ()  # (name, required, description)
    extra_statuses: dict[int, str] = field(default_factory=dict)
    body_required: bool = True


def describe(summary: str, *, body: type[BaseModel] | None = None,
             query: type[BaseModel] | None = None, response: Any = None, status: int = 200,
             content: str = JSON, errors: Iterable[int] = (),
             headers: Iterable[tuple[str, bool, str]] = (),
             also: dict[int, str] | None = None, body_required: bool = True
             ) -> Callable[[H], H]:
    """Describe the decorated handler for the OpenAPI document.

    ``errors`` are the error statuses the handler itself may answer; those of
    the role gate and of malformed input are added from ``@allow`` and the
    inputs. ``also`` lists other success statuses (a 201 beside a 200).
    """
    description = Description(summary, body, query, response, status, content,
                              tuple(sorted(set(errors))), tuple(headers), dict(also or {}),
                              body_required)

    def declare(handler: H) -> H:
        setattr(handler, _ATTRIBUTE, description)
        return handler

    return declare


def described(handler: object) -> Description | None:
    found: Description | None = getattr(handler, _ATTRIBUTE, None)
    return found


def _routes(app: web.Application) -> list[web.AbstractRoute]:
    return [r for r in app.router.routes() if r.method != "HEAD" and r.resource is not None]


def _path(route: web.AbstractRoute) -> str:
    assert route.resource is not None
    return route.resource.canonical


def undescribed(app: web.Application) -> list[str]:
    """``METHOD /path`` of every route whose handler has no ``@describe``."""
    return sorted(f"{r.method} {_path(r)}" for r in _routes(app)
                  if described(r.handler) is None)


class _Schemas:
    """Collects the types the document names; one component per model, deduplicated."""

    def __init__(self) -> None:
        self._wanted: list[tuple[tuple[int, str], Any, Any]] = []

    def want(self, kind: str, target: Any) -> tuple[int, str]:
        key = (len(self._wanted), kind)
        mode = "validation" if kind == "in" else "serialization"
        self._wanted.append((key, mode, TypeAdapter(target)))
        return key

    def resolve(self) -> tuple[dict[tuple[int, str], Any], dict[str, Any]]:
        if not self._wanted:
            return {}, {}
        found, defs = TypeAdapter.json_schemas(self._wanted, ref_template=_REF)
        return {key: schema for (key, _mode), schema in found.items()}, \
            defs.get("$defs", {})


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema without ``null`` (a URL cannot say null)."""
    options = schema.get("anyOf")
    if not options:
        return schema
    kept = [o for o in options if o.get("type") != "null"]
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    if rest.get("default", 0) is None:
        del rest["default"]
    return {**kept[0], **rest} if len(kept) == 1 else {**rest, "anyOf": kept}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=_REF)
    required = set(schema.get("required", ()))
    return [{"name": name, "in": "query", "required": name in required,
             "schema": _not_null(prop)} for name, prop in schema["properties"].items()]


def _security(roles: frozenset[Role], method: str) -> list[dict[str, list[str]]] | None:
    if roles == {Role.ANONYMOUS}:
        return None
    cookie: dict[str, list[str]] = {"session": []}
    if method not in {"GET", "HEAD"}:
        cookie["csrf"] = []
    needed: list[dict[str, list[str]]] = [cookie, {"bearer": []}]
    return [{}, *needed] if Role.ANONYMOUS in roles else needed


def _error_statuses(route: web.AbstractRoute, desc: Description,
                    roles: frozenset[Role]) -> set[int]:
    statuses = set(desc.errors) | {503}
    if Role.ANONYMOUS not in roles:
        statuses |= {401, 403}
    if route.method not in {"GET", "HEAD"}:
        statuses.add(403)  # csrf_failed: a cookie without its token, or a foreign Origin
    if desc.body is not None or desc.query is not None:
        statuses.add(400)
    if _PARAMETER.search(_path(route)):
        statuses |= {400, 404}  # a path value the route's pattern does not take is no route
    if desc.body is not None:
        statuses |= {400, 413, 422}  # http.bodies: unreadable 400, fields that do not fit 422
    return statuses


def _operation(route: web.AbstractRoute, desc: Description, schemas: _Schemas,
               later: list[tuple[dict[str, Any], str, tuple[int, str]]]) -> dict[str, Any]:
    path = _path(route)
    roles = declared_roles(route.handler) or frozenset()
    op: dict[str, Any] = {
        "operationId": re.sub(r"\W+", "_", f"{route.method} {path}".lower()).strip("_"),
        "summary": desc.summary,
        "tags": [path.split("/")[2] if path.startswith("/api/") else "pages"],
        # Who may call it (``@allow``): "anonymous" means no session is needed.
        "x-roles": sorted(role.value for role in roles),
    }
    params = [{"name": name, "in": "path", "required": True,
               "schema": PATH_PARAMETERS.get(name, {"type": "string"})}
              for name in _PARAMETER.findall(path)]
    params += [{"name": name, "in": "header", "required": required,
                "schema": {"type": "string"}, "description": text}
               for name, required, text in desc.headers]
    if desc.query is not None:
        params += _query_parameters(desc.query)
    if params:
        op["parameters"] = params
    if desc.body is not None:
        op["requestBody"] = {"required": desc.body_required, "content": {JSON: {"schema": {}}}}
        later.append((op["requestBody"]["content"][JSON], "schema", schemas.want("in", desc.body)))
    responses: dict[str, Any] = {}
    for status in (desc.status, *desc.extra_statuses):
        answer: dict[str, Any] = {
            "description": desc.extra_statuses.get(status) or _STATUS_TEXT.get(status, "OK")}
        if status != 204 and status < 300:
            content: dict[str, Any] = {"schema": {}}
            answer["content"] = {desc.content: content}
            if desc.response is not None:
                later.append((content, "schema", schemas.want("out", desc.response)))
            elif desc.content == JSON:
                content["schema"] = {"type": ["object", "array"]}
            else:
                content["schema"] = {"type": "string"}
        responses[str(status)] = answer
    for status in sorted(_error_statuses(route, desc, roles)):
        error: dict[str, Any] = {JSON: {"schema": {"$ref": _REF.format(model="Error")}}}
        if desc.content == HTML:
            # A page's own refusal is a page (the error pages, http/pages.py).
            error[HTML] = {"schema": {"type": "string"}}
        responses[str(status)] = {
            "description": _STATUS_TEXT.get(status, "An error (see the code)"),
            "content": error}
    op["responses"] = responses
    security = _security(roles, route.method)
    op["security"] = security if security is not None else []
    return op


_ERROR_SCHEMA = {
    "type": "object", "required": ["error"], "additionalProperties": False,
    "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {
            "code": {"enum": sorted(CODES)}, "message": {"type": "string"},
            "seats": {"type": "array", "items": {"type": "string"},
                      "description": "The seats at fault (every seat refusal names them)."}}}},
}


def openapi_document(app: web.Application,
                     security_schemes: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app``'s routes (undescribed ones are left out).

    ``security_schemes`` are the ways a caller proves a session: "session"
    (the cookie), "csrf" (its header, on changes) and "bearer".
    """
    schemas = _Schemas()
    later: list[tuple[dict[str, Any], str, tuple[int, str]]] = []
    paths: dict[str, dict[str, Any]] = {}
    for route in _routes(app):
        desc = described(route.handler)
        if desc is not None:
            paths.setdefault(_path(route), {})[route.method.lower()] = \
                _operation(route, desc, schemas, later)
    found, defs = schemas.resolve()
    for holder, name, key in later:
        holder[name] = found[key]
    return {
        "openapi": "3.1.0",
        "info": {"title": "seatserver", "version": __version__,
                 "description": "Seat selection over HTTP; the WebSocket protocol is in "
                                "docs/protocol.md. See docs/api.md."},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {**defs, "Error": _ERROR_SCHEMA},
            "securitySchemes": security_schemes,
        },
    }


class OpenApiHandlers:
    def __init__(self, security_schemes: dict[str, Any]) -> None:
        self._security_schemes = security_schemes
        self._body: bytes | None = None

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/openapi.json", self.document)]

    @allow(Role.ANONYMOUS)
    @describe("This document (OpenAPI 3.1).")
    async def document(self, request: web.Request) -> web.Response:
        if self._body is None:  # the router is frozen once serving: build once
            self._body = orjson.dumps(openapi_document(request.app, self._security_schemes))
        return web.Response(body=self._body, content_type=JSON)
