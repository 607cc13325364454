"""JSON answers, and the headers every HTML page of ours is sent with.

Bodies are encoded by orjson, which writes dataclasses, datetimes and dates
itself; pydantic models are dumped in their JSON mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel

JSON = "application/json"
# An answer about one caller (a session, an account): never kept by a cache.
NO_STORE = {"Cache-Control": "no-store"}

# Pages run only their own scripts and styles and talk only to this origin
# ('self' covers ws:/wss: to the same host).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'self'"
)
# Sent with every HTML page: the web app's and the receipt.
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _pydantic(value: object) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def json_bytes(body: object) -> bytes:
    return orjson.dumps(body, default=_pydantic)


def json_response(body: object, status: int = 200, *,
                  headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json_bytes(body), content_type=JSON,
                        headers=headers)
