"""The edge hostile input meets first, for every route at once.

PostgreSQL's text cannot hold NUL (U+0000): a NUL that reaches a query fails
it with ``CharacterNotInRepertoireError``. Rather than each handler checking
each field, ``refuse_nul`` turns away a request whose path, query or body
carries one, before any handler or session look-up runs. (Row ids in paths
are read by ``http.params.path_number``.)

``quiet_protocol_errors`` keeps what aiohttp's parser refuses (a header over
its limit, a NUL byte in a header) out of the error log: the client gets
aiohttp's 400, the log one line, never a traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import asyncpg
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler

from seatserver.errors import BadRequest

log = logging.getLogger(__name__)

_NUL = "\x00"
_FORM = "application/x-www-form-urlencoded"
_OWN_BODY = "_reads_own_body"

H = TypeVar("H", bound=Callable[..., Any])


def reads_own_body(handler: H) -> H:
    """Marks a handler that reads its body itself, with a bound of its own
    above the app's ``client_max_size``, and refuses NUL in what it keeps
    (the movie import): ``refuse_nul`` leaves such a body unread."""
    setattr(handler, _OWN_BODY, True)
    return handler


@web.middleware
async def refuse_nul(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``bad_request`` for a NUL anywhere a handler could read text from."""
    where = await _nul_in(request)
    if where is not None:
        raise BadRequest(f"{where} contains a NUL character (U+0000), which no text here "
                         "may hold")
    try:
        return await handler(request)
    except (asyncpg.CharacterNotInRepertoireError,
            asyncpg.UntranslatableCharacterError) as exc:
        # A backstop only: text PostgreSQL cannot store came in some way the
        # check above does not see. Still the client's input, not our failure.
        log.warning("%s %s: text PostgreSQL cannot store got past the edge: %s",
                    request.method, request.path, exc)
        raise BadRequest("the request holds text that cannot be stored") from None


async def _nul_in(request: web.Request) -> str | None:
    if _NUL in request.path:
        return "the path"
    if any(_NUL in key or _NUL in value for key, value in request.query.items()):
        return "the query string"
    if not request.body_exists or request.content_type.startswith("multipart/"):
        return None  # nothing here reads multipart bodies: left unread
    if getattr(request.match_info.handler, _OWN_BODY, False):
        return None
    raw = await request.read()  # kept by aiohttp: handlers read it again
    if b"\x00" in raw:
        return "the body"
    if request.content_type == _FORM and b"%00" in raw:
        text = raw.decode("utf-8", "replace")
        if any(_NUL in k or _NUL in v for k, v in parse_qsl(text, keep_blank_values=True)):
            return "the body"
    if b"\\u0000" in raw and _json_has_nul(raw):
        return "the body"
    return None


def _json_has_nul(raw: bytes) -> bool:
    """Whether ``raw`` is JSON holding a NUL in a key or string (JSON spells it
    ``\\u0000``). Not JSON: no, and the handler refuses it as it would anyway."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return False
    return any(_NUL in text for text in _strings(value))


def _strings(value: object) -> Iterator[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


class ProtocolErrorFilter(logging.Filter):
    """aiohttp logs a request its parser refused (``LineTooLong``, an invalid
    header character) with a traceback at ERROR. It is the client's fault and
    answered 400 already: keep one INFO line, without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.msg = "refused a malformed request: %s"
            record.args = (" ".join(str(exc.message).split())[:200],)
            record.exc_info = None
            record.exc_text = None
            record.levelno = logging.INFO
            record.levelname = logging.getLevelName(logging.INFO)
        return True


def quiet_protocol_errors() -> None:
    """Install ``ProtocolErrorFilter`` on aiohttp's server logger (once)."""
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ProtocolErrorFilter) for f in logger.filters):
        logger.addFilter(ProtocolErrorFilter())
