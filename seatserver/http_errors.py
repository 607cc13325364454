"""The one place where errors become HTTP responses: ``{"error": {code, message}}``."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from seatserver.db import DB_DOWN
from seatserver.errors import RateLimited, SeatError

log = logging.getLogger(__name__)

RETRY_AFTER_S = "1"


@dataclass
class ErrorCounts:
    """Requests answered with an error, by cause (read by /metrics)."""

    database: int = 0
    internal: int = 0


counts = ErrorCounts()

_BY_STATUS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "bad_request", 413: "bad_request", 429: "rate_limited",
              503: "unavailable"}


def error_response(status: int, code: str, message: str) -> web.Response:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    return web.Response(status=status, body=body, content_type="application/json")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except SeatError as err:
        response = error_response(err.status, err.code, err.message)
        if isinstance(err, RateLimited) and err.retry_after_s is not None:
            response.headers["Retry-After"] = str(err.retry_after_s)
        return response
    except web.HTTPException as exc:
        if exc.status < 400 or exc.status == 101:
            raise
        code = _BY_STATUS.get(exc.status, "bad_request" if exc.status < 500 else "internal_error")
        return error_response(exc.status, code, exc.reason)
    except DB_DOWN as exc:
        counts.database += 1
        log.warning("%s %s: database unavailable: %r", request.method, request.path, exc)
        response = error_response(503, "unavailable", "the database is unavailable, retry shortly")
        response.headers["Retry-After"] = RETRY_AFTER_S
        return response
    except Exception:
        counts.internal += 1
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, "internal_error", "internal error")
