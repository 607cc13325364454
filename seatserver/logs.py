"""Logging: JSON lines for machines, readable lines for people, with a request id.

Every HTTP request (a WebSocket connection included: it starts as one) gets
an id, taken from an incoming ``X-Request-Id`` when a proxy set one, else
made here; it is echoed in the response and attached to every log record
written while that request or connection is being served.
"""

from __future__ import annotations

import contextvars
import logging
import secrets
import sys
from datetime import UTC, datetime

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

REQUEST_ID_HEADER = "X-Request-Id"
_MAX_INCOMING_ID = 64

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


class _WithRequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, pid, request id, error."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        rid = getattr(record, "request_id", "")
        if rid:
            entry["request_id"] = rid
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


LOG_FORMATS = ("auto", "json", "text")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s [%(process)d] %(name)s: %(message)s"


def configure(fmt: str) -> None:
    """``fmt``: ``json``, ``text``, or ``auto`` (text on a terminal, else JSON)."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {fmt!r}")
    if fmt == "auto":
        fmt = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(_WithRequestId())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def _incoming(request: web.Request) -> str | None:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    if 0 < len(given) <= _MAX_INCOMING_ID and given.isprintable():
        return given
    return None


REQUEST_ID = web.RequestKey("request_id", str)


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    rid = request[REQUEST_ID] = _incoming(request) or secrets.token_hex(8)
    token = request_id.set(rid)
    try:
        return await handler(request)
    finally:
        request_id.reset(token)


async def echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: every response, a WebSocket upgrade included, says its id."""
    rid = request.get(REQUEST_ID)
    if rid:
        response.headers[REQUEST_ID_HEADER] = rid
