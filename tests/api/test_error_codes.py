"""The closed list of error codes: declared once by the error types, documented
in docs/protocol.md and docs/api.md, and answered over HTTP with the seats
at fault."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from seatserver import errors
from seatserver.errors import CODES, CodedError
from seatserver.http.errors import error_middleware

DOCS = Path(__file__).resolve().parents[2] / "docs"
Client = TestClient[web.Request, web.Application]
_ROW = re.compile(r"^\| `(\w+)` \| (\d{3}) \|")
_API_ROW = re.compile(r"^\| (\d{3}(?: / \d{3})?) \| (.+?) \|")


def _types() -> Iterator[type[CodedError]]:
    stack = [CodedError]
    while stack:
        cls = stack.pop()
        yield cls
        stack.extend(cls.__subclasses__())


def _protocol_table() -> dict[str, int]:
    text = (DOCS / "protocol.md").read_text().split("## Error codes", 1)[1]
    return {m[1]: int(m[2]) for line in text.splitlines() if (m := _ROW.match(line))}


def test_every_error_type_declares_its_own_code_and_status() -> None:
    declared = {cls.code: cls.status for cls in _types()}
    named = [cls for cls in vars(errors).values()
             if isinstance(cls, type) and issubclass(cls, CodedError)]

    assert declared == CODES
    assert len({cls.code for cls in named}) == len(named)  # no type reuses another's code
    with pytest.raises(TypeError):
        type("Again", (CodedError,), {}, code="not_found", status=404)


def test_the_documented_closed_list_is_the_list_of_error_types() -> None:
    assert _protocol_table() == CODES


def test_the_api_page_gives_each_code_the_status_of_its_type() -> None:
    text = (DOCS / "api.md").read_text().split("## Errors", 1)[1].split("\n## ", 1)[0]
    rows = [m.groups() for line in text.splitlines() if (m := _API_ROW.match(line))]
    assert rows
    for statuses, codes in rows:
        for code in re.findall(r"`(\w+)`", codes):
            assert code in CODES, code
            assert str(CODES[code]) in statuses, (code, statuses)


# Every error that names seats, as a handler below the edge raises it.
SEAT_REFUSALS = [cls for cls in _types()
                 if cls.code in {"unknown_seat", "seats_unavailable", "too_many_seats",
                                 "not_holder", "hold_expired", "in_use"}]


@pytest.fixture
async def client(aiohttp_client: Callable[[web.Application], Awaitable[Client]]) -> Client:
    by_code = {cls.code: cls for cls in SEAT_REFUSALS}

    async def refuse(request: web.Request) -> web.Response:
        raise by_code[request.match_info["code"]]("refused", ["A1", "B2"])

    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/refuse/{code}", refuse)
    return await aiohttp_client(app)


@pytest.mark.parametrize("code", sorted(cls.code for cls in SEAT_REFUSALS))
async def test_every_seat_refusal_over_http_names_the_seats(client: Client, code: str) -> None:
    async with client.get(f"/refuse/{code}") as resp:
        body = await resp.json()

    assert (resp.status, body) == (CODES[code], {"error": {
        "code": code, "message": "refused", "seats": ["A1", "B2"]}})


async def test_an_error_without_seats_has_no_seats_field(client: Client) -> None:
    async with client.get("/nowhere") as resp:
        assert (resp.status, await resp.json()) == (404, {"error": {
            "code": "not_found", "message": "Not Found"}})
