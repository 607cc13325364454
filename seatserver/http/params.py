"""What a handler reads from the URL: row ids in the path, parameters in the query.

Row ids in paths are read by ``path_number``: ASCII digits within PostgreSQL's
bigint, so that neither Python's int() (which takes "+5", " 5", "1_0", "١٢"
and gives up past 4,300 digits) nor an out-of-range query parameter ever
meets a request. A path or query that cannot be read is ``bad_request``
(400); a well-formed id that no row can have is "not found" (404).
"""

from __future__ import annotations

from typing import TypeVar, get_args

from aiohttp import web
from pydantic import BaseModel, ValidationError

from seatserver.db import MAX_ID
from seatserver.errors import BadRequest, CodedError, NotFound, UnknownShowtime

Q = TypeVar("Q", bound=BaseModel)
T = TypeVar("T")

_MAX_DIGITS = len(str(MAX_ID))
_SHOWN = 24  # characters of a refused value echoed back


def shown(raw: str) -> str:
    """A refused value as an error message quotes it: short, and readable."""
    return repr(raw if len(raw) <= _SHOWN else raw[:_SHOWN] + "…")


def path_number(raw: str, what: str, missing: type[CodedError] = NotFound) -> int:
    """A path part as a row id: ``bad_request`` unless written in ASCII digits,
    ``missing`` (404) when no row can have it (0, or beyond bigint)."""
    if not (raw.isascii() and raw.isdigit()):
        raise BadRequest(f"{what} id must be a whole number, got {shown(raw)}")
    significant = raw.lstrip("0")
    # Counted before int(): past _MAX_DIGITS no bigint is that long anyway.
    number = int(significant) if 0 < len(significant) <= _MAX_DIGITS else 0
    if not 0 < number <= MAX_ID:
        raise missing(f"there is no {what} {shown(raw)}")
    return number


def path_id(request: web.Request, name: str = "id") -> int:
    """The path part ``name`` as a row id: ``bad_request`` unless written in
    digits, ``not_found`` beyond any id."""
    return path_number(request.match_info[name], name)


def showtime_id(request: web.Request) -> int:
    """The ``{id}`` of the path as a showtime id: ``bad_request`` unless it is
    written in digits, ``unknown_showtime`` beyond any id."""
    return path_number(request.match_info["id"], "showtime", UnknownShowtime)


def found(thing: T | None, what: str) -> T:
    """``thing``, or ``not_found`` naming ``what`` when a look-up found nothing."""
    if thing is None:
        raise NotFound(f"there is no {what}")
    return thing


def query_of(request: web.Request, model: type[Q]) -> Q:
    """The URL's parameters as ``model``; ``bad_request`` naming the parameter.

    A whole-number parameter is written in ASCII digits: pydantic would also
    take " 5", "+5" and "5_0", which no link of ours sends. A parameter given
    twice is refused rather than one of its values picked.
    """
    names = [key for key, _ in request.query.items()]
    if len(names) != len(set(names)):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise BadRequest(f"parameter given more than once: {', '.join(repeated)}")
    for name, value in request.query.items():
        field = model.model_fields.get(name)
        if field is not None and _is_int(field.annotation) and not (
                value.isascii() and value.isdigit()):
            raise BadRequest(f"{name}: must be a whole number in digits 0-9, got {shown(value)}")
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "query"
        if first["type"] == "extra_forbidden":
            raise BadRequest(f"unknown parameter {where!r}") from None
        raise BadRequest(f"{where}: {first['msg']}") from None


def _is_int(annotation: object) -> bool:
    return annotation is int or int in get_args(annotation)
