"""The one place where errors become HTTP responses.

Every error is ``{"error": {"code", "message"}}`` with the status of its
code; an error that names seats (every seat refusal) adds ``"seats"``, a
rate limit that knows when to come back a ``Retry-After`` header. Handlers
raise; ``error_middleware`` answers (a handler that must keep the answer,
as checkout does for its Idempotency-Key, calls ``coded_response``).

Every such answer carries its code under ``ERROR_CODE``: a browser that
asked for a page gets the HTML page of that status instead
(``seatserver.http.pages.error_pages``), and only these answers are swapped,
never a JSON body a handler meant (``/readyz``'s 503 says what is down).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from seatserver.db import DB_DOWN
from seatserver.errors import CodedError, RateLimited
from seatserver.http.responses import json_response

log = logging.getLogger(__name__)

RETRY_AFTER_S = "1"
ERROR_CODE = web.ResponseKey("error_code", str)


@dataclass
class ErrorCounts:
    """Requests answered with an error, by cause (read by /metrics)."""

    database: int = 0
    internal: int = 0


counts = ErrorCounts()

_BY_STATUS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "bad_request", 413: "bad_request", 429: "rate_limited",
              503: "unavailable"}


def error_response(status: int, code: str, message: str,
                   seats: Sequence[str] = ()) -> web.Response:
    error: dict[str, object] = {"code": code, "message": message}
    if seats:
        error["seats"] = list(seats)
    response = json_response({"error": error}, status)
    response[ERROR_CODE] = code
    return response


def coded_response(err: CodedError) -> web.Response:
    """The answer to ``err``: its status, code, message and seats."""
    response = error_response(err.status, err.code, err.message, err.seats)
    if isinstance(err, RateLimited) and err.retry_after_s is not None:
        response.headers["Retry-After"] = str(err.retry_after_s)
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except CodedError as err:
        return coded_response(err)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.status == 101:
            raise
        code = _BY_STATUS.get(exc.status, "bad_request" if exc.status < 500 else "internal_error")
        response = error_response(exc.status, code, exc.reason)
        if "Allow" in exc.headers:  # a 405 says what the address does take
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except DB_DOWN as exc:
        if request.transport is None or request.transport.is_closing():
            # The client hung up (a body cut short while the server shuts
            # down raises ConnectionResetError here too): nobody to answer,
            # and not the database's doing.
            log.info("%s %s: the client went away: %r", request.method, request.path, exc)
            return error_response(400, "bad_request", "the request was cut short")
        counts.database += 1
        log.warning("%s %s: database unavailable: %r", request.method, request.path, exc)
        response = error_response(503, "unavailable", "the database is unavailable, retry shortly")
        response.headers["Retry-After"] = RETRY_AFTER_S
        return response
    except Exception:
        counts.internal += 1
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, "internal_error", "internal error")
