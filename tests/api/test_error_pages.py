"""No dead ends (issue 17, point 10): a browser that asks for a page and meets
an error gets the site's error page with the ways on; the API and clients
that ask for JSON keep the JSON error. Against a whole app (create_app) on
the test Redis and PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from seatserver.http.errors import error_middleware
from seatserver.http.pages import PageHandlers, error_pages
from seatserver.settings import Settings
from tests.api.test_hostile_input import HUGE, JUST_PAST_BIGINT, no_tracebacks
from tests.e2e.test_pages import WEB_DIR, Catalog
from tests.realtime import conftest as realtime

http = realtime.http
make_server = realtime.make_server
server = realtime.server
base_url = realtime.base_url
__all__ = ["no_tracebacks"]

# What Chromium sends when it navigates to a page.
BROWSER = ("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
           "image/webp,*/*;q=0.8")


@pytest.fixture
def settings(redis_url: str, database_url: str, tmp_path: Path) -> Settings:
    return Settings(redis_url=redis_url, database_url=database_url, data_dir=tmp_path / "data",
                    sim_duplicate_rate=0.0, sim_reorder_rate=0.0)


Answer = tuple[int, str, str]


@pytest.fixture
def get(http: aiohttp.ClientSession, base_url: str) -> Callable[..., Awaitable[Answer]]:
    async def get(path: str, accept: str | None = BROWSER, method: str = "GET") -> Answer:
        headers = {} if accept is None else {"Accept": accept}
        async with http.request(method, base_url + path, headers=headers,
                                allow_redirects=False) as resp:
            return resp.status, resp.content_type, await resp.text()
    return get


def links(page: str) -> list[str]:
    return [part.split('"', 1)[0] for part in page.split('<a href="')[1:]]


async def test_a_browser_lost_on_an_unknown_page_gets_a_page_with_the_way_home(
        get: Any, no_tracebacks: None) -> None:
    status, kind, page = await get("/no/such/page")

    assert (status, kind) == (404, "text/html")
    assert "<h1" in page and "Page not found" in page
    assert links(page) == ["/", "/account"]
    assert "{{" not in page


@pytest.mark.parametrize("accept", [None, "*/*", "application/json",
                                    "text/html;q=0.5, application/json",
                                    "text/html;q=\u0661, application/json;q=0.1",
                                    "text/html;q=nan", "text/html;q=1e999",
                                    "text/html;q=2", "text/html;q=0.5;q=1, */*",
                                    # past what is read: the text/html at its end
                                    "application/json," + "x/y;q=0.5," * 400 + "text/html"])
async def test_clients_that_do_not_prefer_html_keep_the_json_error(
        get: Any, no_tracebacks: None, accept: str | None) -> None:
    status, kind, body = await get("/no/such/page", accept)

    assert (status, kind) == (404, "application/json")
    assert '"code":"not_found"' in body


async def test_the_api_answers_json_even_to_a_browser(get: Any, no_tracebacks: None) -> None:
    status, kind, _ = await get("/api/no/such/thing")
    assert (status, kind) == (404, "application/json")


async def test_a_method_a_page_does_not_take_is_a_405_page_saying_what_it_takes(
        http: aiohttp.ClientSession, base_url: str, no_tracebacks: None) -> None:
    async with http.delete(base_url + "/kiosk", headers={"Accept": BROWSER}) as resp:
        page = await resp.text()
        assert (resp.status, resp.content_type) == (405, "text/html")
        assert "GET" in resp.headers["Allow"]
    assert "Not something this page does" in page


@pytest.mark.parametrize("path", ["/showtimes/987654321", f"/showtimes/{HUGE}",
                                  f"/showtimes/{JUST_PAST_BIGINT}", "/showtimes/\u0661\u0662",
                                  "/showtimes/0"])
async def test_the_picker_of_an_unknown_showtime_is_the_not_found_page(
        get: Any, no_tracebacks: None, path: str) -> None:
    status, kind, page = await get(path)

    assert (status, kind) == (404, "text/html")
    assert "found" in page
    assert "/" in links(page)


async def test_a_nul_in_a_page_address_is_a_400_page(get: Any, no_tracebacks: None) -> None:
    status, kind, page = await get("/showtimes/1%00")
    assert (status, kind) == (400, "text/html")
    assert "This address cannot be read" in page


async def test_the_picker_of_a_showtime_that_is_over_says_so_and_links_its_film(
        get: Any, db_pool: asyncpg.Pool, demo: list[int], no_tracebacks: None) -> None:
    async with db_pool.acquire() as conn:
        past, movie = await conn.fetchrow(
            "INSERT INTO showtimes (movie_id, screen_id, starts_at, currency) "
            "SELECT movie_id, screen_id, $2, currency FROM showtimes WHERE id = $1 "
            "RETURNING id, movie_id", demo[0], datetime.now(UTC) - timedelta(days=400))

    status, kind, page = await get(f"/showtimes/{past}")
    upcoming, _, picker = await get(f"/showtimes/{demo[0]}")

    assert (status, kind) == (410, "text/html")
    assert "This showtime is over" in page and "Northern Lights" in page
    assert links(page) == [f"/films/{movie}", "/"]
    assert upcoming == 200 and "seat map" in picker


async def test_the_film_page_exists_for_films_only(
        get: Any, db_pool: asyncpg.Pool, demo: list[int], no_tracebacks: None) -> None:
    movie = await db_pool.fetchval("SELECT movie_id FROM showtimes WHERE id = $1", demo[0])

    found, _, _ = await get(f"/films/{movie}")
    missing, kind, page = await get("/films/987654321")
    huge, _, _ = await get(f"/films/{HUGE}")

    assert found == 200
    assert (missing, kind, huge) == (404, "text/html", 404)
    assert "Film not found" in page


@pytest.mark.expect_traceback("secret detail of the failure")
async def test_a_failure_is_a_500_page_without_its_details(
        aiohttp_client: Callable[[web.Application], Awaitable[TestClient[Any, Any]]],
        caplog: pytest.LogCaptureFixture) -> None:
    pages = PageHandlers(WEB_DIR, Catalog())

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("secret detail of the failure")

    app = web.Application(middlewares=[error_pages(lambda: pages), error_middleware])
    app.router.add_get("/broken", broken)
    client = await aiohttp_client(app)

    resp = await client.get("/broken", headers={"Accept": BROWSER})
    page = await resp.text()

    assert (resp.status, resp.content_type) == (500, "text/html")
    assert "Something went wrong on our side" in page
    assert "secret detail" not in page and "Traceback" not in page
    assert "secret detail" in caplog.text  # the log keeps it
