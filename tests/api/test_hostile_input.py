"""Hostile input over HTTP (issue 13, point 7): NUL bytes, ids of thousands of
digits or in other scripts' digits, headers over aiohttp's limit and Back
links to other sites get a clean 4xx in the error body, never a 500 or a
traceback. Against a whole app (create_app) on the test Redis and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from seatserver.accounts.sessions import open_session
from seatserver.http.roles import Role
from seatserver.settings import Settings
from tests.realtime import conftest as realtime

http = realtime.http
make_server = realtime.make_server
server = realtime.server
base_url = realtime.base_url

HUGE = "9" * 5000
JUST_PAST_BIGINT = str(2**63)
NUL_MESSAGE = "NUL character"


@pytest.fixture
def settings(redis_url: str, database_url: str, tmp_path: Path) -> Settings:
    return Settings(redis_url=redis_url, database_url=database_url, data_dir=tmp_path / "data",
                    sim_duplicate_rate=0.0, sim_reorder_rate=0.0)


async def _token(db_pool: asyncpg.Pool, role: Role, tag: str) -> str:
    async with db_pool.acquire() as conn:
        user_id = await conn.fetchval(
            "INSERT INTO users (kind, email, password_hash) VALUES ($1, $2, $3) RETURNING id",
            role.value, f"hostile-{role.value}-{tag}@example.com", "$argon2id$not-a-hash")
        return (await open_session(conn, user_id, mfa=True)).token


@pytest.fixture
async def tokens(db_pool: asyncpg.Pool, request: pytest.FixtureRequest) -> dict[str, str]:
    tag = str(abs(hash(request.node.nodeid)))
    return {"customer": await _token(db_pool, Role.CUSTOMER, tag),
            "admin": await _token(db_pool, Role.ADMIN, tag)}


@pytest.fixture
async def call(http: aiohttp.ClientSession, base_url: str, tokens: dict[str, str]
               ) -> AsyncIterator[Any]:
    async def call(method: str, path: str, *, who: str | None = None,
                   **kwargs: Any) -> tuple[int, Any]:
        headers = dict(kwargs.pop("headers", {}))
        headers.setdefault("Origin", base_url)
        if who is not None:
            headers["Authorization"] = f"Bearer {tokens[who]}"
        async with http.request(method, base_url + path, headers=headers,
                                allow_redirects=False, **kwargs) as resp:
            body = await resp.json() if resp.content_type == "application/json" else None
            return resp.status, body
    yield call


@pytest.fixture
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.INFO)
    yield
    tracebacks = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not tracebacks, [f"{r.name}: {r.getMessage()}" for r in tracebacks]


NUL_REQUESTS = [
    ("GET", "/api/catalog/showtimes?city=%00", None, None),
    ("GET", "/api/catalog/movies?city=a%00", None, None),
    ("GET", "/api/showtimes?genre=%00", None, None),
    ("POST", "/api/auth/login", None,
     {"email": "a\u0000@example.com", "password": "correct horse battery"}),
    ("POST", "/api/auth/login", None,
     {"email": "nobody@example.com", "password": "correct\u0000horse battery"}),
    ("POST", "/api/auth/register", None,
     {"email": "new\u0000@example.com", "password": "correct horse battery"}),
    ("POST", "/api/auth/register", None,
     {"email": "new-nul@example.com", "password": "correct horse battery",
      "name": "Ann\u0000"}),
    ("POST", "/api/auth/password-reset", None, {"email": "a\u0000@example.com"}),
    ("POST", "/api/auth/password-reset/confirm", None,
     {"token": "x\u0000", "password": "correct horse battery"}),
    ("GET", "/api/bookings/%00", "customer", None),
    ("GET", "/api/bookings/%00/ticket.svg", "customer", None),
    ("POST", "/api/bookings/%00/cancel", "customer", None),
    ("GET", "/bookings/%00", "customer", None),
    ("GET", "/bookings/%00", None, None),
    ("GET", "/api/admin/bookings?email=a%00@example.com", "admin", None),
    ("POST", "/api/admin/movies", "admin",
     {"slug": "nul-film", "title": "Film\u0000", "runtime_min": 90}),
    ("GET", "/pay/%00", None, None),
]


@pytest.mark.parametrize(("method", "path", "who", "body"), NUL_REQUESTS,
                         ids=[f"{m} {p}" for m, p, _, _ in NUL_REQUESTS])
async def test_nul_anywhere_in_a_request_is_a_bad_request_not_a_database_error(
        call: Any, no_tracebacks: None, method: str, path: str, who: str | None,
        body: Any) -> None:
    status, answer = await call(method, path, who=who, json=body)

    assert (status, answer["error"]["code"]) == (400, "bad_request")
    assert NUL_MESSAGE in answer["error"]["message"]


async def test_nul_in_a_form_body_or_a_body_without_content_type_is_refused(
        call: Any, no_tracebacks: None, demo: list[int]) -> None:
    status, answer = await call("POST", "/api/auth/login", data={"email": "a\u0000b"})
    assert (status, NUL_MESSAGE in answer["error"]["message"]) == (400, True)

    status, answer = await call(
        "POST", f"/api/showtimes/{demo[0]}/bookings", who="customer",
        data=b'{"seats": ["A1\\u0000"]}', headers={"Idempotency-Key": "nul-body"})
    assert (status, NUL_MESSAGE in answer["error"]["message"]) == (400, True)


async def test_an_escaped_backslash_before_u0000_is_text_not_a_nul(
        call: Any, no_tracebacks: None) -> None:
    # "\\u0000" in JSON is a backslash followed by "u0000": storable text.
    status, answer = await call("POST", "/api/auth/login", data=(
        b'{"email": "a\\\\u0000@example.com", "password": "correct horse battery"}'),
        headers={"Content-Type": "application/json"})

    assert (status, answer["error"]["code"]) == (401, "invalid_credentials")


def _id_paths(number: str) -> list[tuple[str, str, str | None, str]]:
    """Every route with an id in its path, with ``number`` as the id, and the
    code of the route's own answer for an id that names nothing."""
    return [
        ("GET", f"/api/showtimes/{number}", None, "unknown_showtime"),
        ("POST", f"/api/showtimes/{number}/bookings", "customer", "unknown_showtime"),
        ("GET", f"/api/movies/{number}/reviews", None, "not_found"),
        ("GET", f"/api/movies/{number}/reviews/mine", "customer", "not_found"),
        ("POST", f"/api/movies/{number}/reviews", "customer", "not_found"),
        ("PATCH", f"/api/reviews/{number}", "customer", "not_found"),
        ("PATCH", f"/api/admin/reviews/{number}", "admin", "not_found"),
        ("GET", f"/api/admin/movies/{number}", "admin", "not_found"),
        ("PUT", f"/api/admin/movies/{number}", "admin", "not_found"),
        ("DELETE", f"/api/admin/movies/{number}", "admin", "not_found"),
        ("GET", f"/api/admin/theaters/{number}", "admin", "not_found"),
        ("GET", f"/api/admin/theaters/{number}/prices", "admin", "not_found"),
        ("DELETE", f"/api/admin/theaters/{number}", "admin", "not_found"),
        ("GET", f"/api/admin/screens/{number}", "admin", "not_found"),
        ("DELETE", f"/api/admin/screens/{number}", "admin", "not_found"),
        ("PUT", f"/api/admin/showtimes/{number}", "admin", "not_found"),
        ("DELETE", f"/api/admin/showtimes/{number}", "admin", "not_found"),
        ("GET", f"/api/admin/showtimes/{number}/prices", "admin", "not_found"),
        ("DELETE", f"/api/admin/showtimes/{number}/prices/gold", "admin", "not_found"),
        ("DELETE", f"/api/admin/prices/{number}", "admin", "not_found"),
        ("GET", f"/api/bookings/{number}", "customer", "not_found"),
        ("POST", f"/api/admin/bookings/{number}/cancel", "admin", "not_found"),
    ]


@pytest.mark.parametrize(
    ("method", "path", "who", "code"), _id_paths(HUGE) + _id_paths(JUST_PAST_BIGINT),
    ids=[f"{m} {p[:40]}" for m, p, _, _ in _id_paths(HUGE) + _id_paths(JUST_PAST_BIGINT)])
async def test_an_id_beyond_bigint_names_nothing(
        call: Any, no_tracebacks: None, demo: list[int], method: str, path: str,
        who: str | None, code: str) -> None:
    status, answer = await call(method, path, who=who, json={},
                                headers={"Idempotency-Key": "huge-id"})

    assert (status, answer["error"]["code"]) == (404, code)
    assert len(answer["error"]["message"]) < 100  # the id is quoted short, not echoed


@pytest.mark.parametrize("raw", ["١٢", "²", "+1", "%201", "1%20", "-1", "1_0", "0x1", "1.0"])
@pytest.mark.parametrize(("path", "who"), [
    ("/api/showtimes/{}", None), ("/api/movies/{}/reviews", None),
    ("/api/admin/movies/{}", "admin"), ("/api/admin/showtimes/{}/prices", "admin"),
])
async def test_an_id_not_written_in_ascii_digits_is_a_bad_request(
        call: Any, no_tracebacks: None, raw: str, path: str, who: str | None) -> None:
    status, answer = await call("GET", path.format(raw), who=who)

    assert (status, answer["error"]["code"]) == (400, "bad_request")


@pytest.mark.parametrize("query", [
    "limit=%2B5", "limit=+5", "limit=%205", "limit=5_0", "limit=%D9%A1", "theater=" + HUGE,
    "movie=" + JUST_PAST_BIGINT, "screen=-1",
])
@pytest.mark.parametrize("path", ["/api/catalog/showtimes", "/api/admin/showtimes"])
async def test_a_number_in_the_query_is_ascii_digits_within_bigint(
        call: Any, no_tracebacks: None, query: str, path: str) -> None:
    status, answer = await call("GET", f"{path}?{query}", who="admin")

    assert (status, answer["error"]["code"]) == (400, "bad_request")


async def _raw_request(server: TestServer, head: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(head)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


@pytest.mark.parametrize("head", [
    b"GET /api/showtimes HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
    b"GET /api/showtimes HTTP/1.1\r\nHost: x\r\nCookie: " + b"a=b; " * 2000 + b"\r\n\r\n",
    b"GET /api/showtimes?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/showtimes HTTP/1.1\r\nHost: x\r\nIdempotency-Key: a\x00b\r\n\r\n",
], ids=["long header", "long cookie", "long request line", "NUL in a header"])
async def test_a_request_aiohttp_cannot_parse_is_a_400_without_a_traceback(
        server: TestServer, caplog: pytest.LogCaptureFixture, head: bytes) -> None:
    caplog.set_level(logging.INFO)
    answer = await _raw_request(server, head)

    assert answer.split(b"\r\n", 1)[0].split(b" ")[1] in (b"400", b"431")
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert any("refused a malformed request" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("next_path", [
    "/%5Cevil.example/", "/%09/evil.example/", "/%0A/evil.example/", "//evil.example/",
    "/%5C%5Cevil.example", "https://evil.example/", "/./%2F/evil.example", "/%2e/",
    "javascript:alert(1)", "/showtimes/%00",
])
async def test_account_page_drops_a_back_link_to_another_site(
        call: Any, http: aiohttp.ClientSession, base_url: str, next_path: str) -> None:
    async with http.get(f"{base_url}/account?next={next_path}&reset=abc",
                        allow_redirects=False) as resp:
        status, location = resp.status, resp.headers.get("Location")

    if next_path.endswith("%00"):
        assert status == 400  # the edge refuses NUL before the page is judged
        return
    assert (status, location) == (303, "/account?reset=abc")


@pytest.mark.parametrize("next_path", ["/showtimes/12", "/", "/kiosk", "/bookings/ABC234"])
async def test_account_page_keeps_a_back_link_to_our_own_pages(
        http: aiohttp.ClientSession, base_url: str, next_path: str) -> None:
    async with http.get(f"{base_url}/account", params={"next": next_path},
                        allow_redirects=False) as resp:
        assert resp.status == 200


@pytest.mark.parametrize("raw", [HUGE, JUST_PAST_BIGINT, "%D9%A1%D9%A2", "0"])
async def test_the_picker_page_of_a_showtime_that_cannot_exist_is_404(
        http: aiohttp.ClientSession, base_url: str, no_tracebacks: None, raw: str) -> None:
    async with http.get(f"{base_url}/showtimes/{raw}") as resp:
        assert resp.status == 404
