"""The one reader of JSON request bodies, and its one rule.

A body that cannot be read as a JSON object (not sent as JSON, not JSON, not
an object) is 400 ``bad_request``; a JSON object whose fields do not
validate against the handler's model is 422 ``invalid_input``, its message
starting with the field's path (``stars: ...``). A handler whose model needs
a more exact refusal passes its own (the catalog's seat layouts answer
``bad_layout``, naming the row and seat). docs/api.md states the rule.

JSON only: an HTML form from another site cannot send it without a CORS
preflight, one more thing between a forged request and our routes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from seatserver.errors import BadRequest, CodedError, InvalidInput

M = TypeVar("M", bound=BaseModel)
# Turns a failed validation (and the object that failed) into the error to answer.
Refusal = Callable[[ValidationError, Any], CodedError]


def first_problem(exc: ValidationError) -> str:
    """A validation failure as one line: where, and what is wrong there."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def invalid_input(exc: ValidationError, data: Any) -> CodedError:
    return InvalidInput(first_problem(exc))


def validated(model: type[M], data: Any, refusal: Refusal = invalid_input) -> M:
    """``data`` (a decoded JSON object) as ``model``, or ``refusal``'s error."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise refusal(exc, data) from None


def json_object(raw: bytes) -> dict[str, Any]:
    """``raw`` as a JSON object; ``bad_request`` when it is not one."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("body must be JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    return data


async def read_body(request: web.Request, model: type[M],
                    refusal: Refusal = invalid_input) -> M:
    """The request's JSON body as ``model``, by the rule above."""
    if request.content_type != "application/json":
        raise BadRequest("send the body as application/json")
    return validated(model, json_object(await request.read()), refusal)


async def optional_body(request: web.Request, model: type[M]) -> M | None:
    """An optional JSON body as ``model`` (None when empty), by the rule above.

    For clients that send a small body, or none, without a Content-Type.
    """
    raw = await request.read()
    if not raw.strip():
        return None
    return validated(model, json_object(raw))
