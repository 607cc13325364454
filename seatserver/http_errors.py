"""The one place where errors become HTTP responses: ``{"error": {code, message}}``."""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass

import asyncpg
import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from seatserver.errors import RateLimited, SeatError

log = logging.getLogger(__name__)

# PostgreSQL unreachable, restarting or shutting down: a retryable 503, not a 500.
# For code that only talks to PostgreSQL; elsewhere see ``database_down``.
DB_DOWN = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
           asyncpg.exceptions.OperatorInterventionError, ConnectionError, OSError,
           TimeoutError)
_ASYNCPG_DOWN = DB_DOWN[:3]
RETRY_AFTER_S = "1"


def database_down(exc: BaseException) -> bool:
    """Whether ``exc`` says PostgreSQL is out of reach: asyncpg's own errors, or a
    socket error or timeout raised on its way through asyncpg (connecting, the
    pool). The same OSError from a file, a client going away or another
    service is a fault of its own, not the database's."""
    if isinstance(exc, _ASYNCPG_DOWN):
        return True
    if not isinstance(exc, ConnectionError | OSError | TimeoutError):
        return False
    return any(frame.f_globals.get("__name__", "").startswith("asyncpg")
               for frame, _ in traceback.walk_tb(exc.__traceback__))


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
    except Exception as exc:
        if database_down(exc):
            counts.database += 1
            log.warning("%s %s: database unavailable: %r", request.method, request.path, exc)
            response = error_response(503, "unavailable",
                                      "the database is unavailable, retry shortly")
            response.headers["Retry-After"] = RETRY_AFTER_S
            return response
        counts.internal += 1
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, "internal_error", "internal error")
