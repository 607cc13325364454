"""The one reader of JSON request bodies.

JSON only: an HTML form from another site cannot send it without a CORS
preflight, one more thing between a forged request and our routes. A body
that is not a JSON object is ``bad_request``; what the object must hold is
the caller's model, and its refusal the caller's code (the account forms
answer ``bad_request``, entities the admin edits ``invalid_input``).
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from seatserver.errors import BadRequest

M = TypeVar("M", bound=BaseModel)


def first_problem(exc: ValidationError) -> str:
    """A validation failure as one line: where, and what is wrong there."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}"


def optional_body(raw: bytes, model: type[M]) -> M | None:
    """An optional JSON body as ``model`` (None when empty); ``bad_request`` naming
    the problem. For clients that send no Content-Type with a small body."""
    if not raw.strip():
        return None
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if exc.errors()[0]["type"] == "json_invalid":
            raise BadRequest("body must be JSON") from None
        raise BadRequest(first_problem(exc)) from None


async def json_object(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise BadRequest("send the body as application/json")
    try:
        raw = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise BadRequest("body must be JSON") from None
    if not isinstance(raw, dict):
        raise BadRequest("body must be a JSON object")
    return raw
