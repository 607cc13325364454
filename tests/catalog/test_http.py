from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from seatserver.catalog.availability import Availability
from seatserver.catalog.http import CatalogHandlers
from seatserver.catalog.pricing import day_kind
from seatserver.catalog.seed import PRICES, TIME_ZONE
from seatserver.catalog.store import CatalogStore
from seatserver.holds import HoldEngine
from seatserver.http.errors import error_middleware

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(aiohttp_client: Callable[[web.Application], Awaitable[Client]],
                 catalog: CatalogStore, engine: HoldEngine, demo: list[int]) -> Client:
    app = web.Application(middlewares=[error_middleware])
    app.router.add_routes(CatalogHandlers(catalog, Availability(engine, catalog)).routes())
    return await aiohttp_client(app)


async def json_of(client: Client, path: str, status: int) -> Any:
    resp = await client.get(path)
    assert resp.status == status
    assert resp.content_type == "application/json"
    return await resp.json()


async def test_showtime_answers_with_its_priced_seat_map(
        client: Client, demo: list[int]) -> None:
    body = await json_of(client, f"/api/showtimes/{demo[0]}", 200)

    assert body["id"] == demo[0]
    silver = PRICES[day_kind(datetime.fromisoformat(body["starts_at"]), TIME_ZONE)]["silver"]
    assert body["seats"][0] == {"id": "A1", "row": "A", "number": 1, "type": "silver",
                                "price": {"amount": silver, "currency": "EUR"},
                                "x": 1, "y": 0, "accessible": True, "companion_of": None}
    gold = next(seat for seat in body["seats"] if seat["type"] == "gold")
    assert gold["price"] == {"amount": 1250, "currency": "EUR"}
    assert set(body) >= {"movie", "theater", "screen", "starts_at", "currency", "seats"}


async def test_showtime_list_is_a_json_list_of_showtimes(
        client: Client, demo: list[int]) -> None:
    body = await json_of(client, "/api/showtimes", 200)

    assert isinstance(body, list)
    listed = [s for s in body if s["id"] in demo]
    assert [s["id"] for s in listed] == demo
    assert listed[0]["movie"]["title"] == "Northern Lights"
    assert "seats" not in listed[0]


async def test_unknown_showtime_is_404_unknown_showtime(
        client: Client, demo: list[int]) -> None:
    body = await json_of(client, f"/api/showtimes/{max(demo) + 1000}", 404)

    assert body["error"]["code"] == "unknown_showtime"
    assert str(max(demo) + 1000) in body["error"]["message"]


@pytest.mark.parametrize("raw", ["abc", "-1", "1.5", "+1", "%201", "%D9%A1%D9%A2", "1_0"])
async def test_showtime_id_that_is_not_a_whole_number_is_400(client: Client, raw: str) -> None:
    body = await json_of(client, f"/api/showtimes/{raw}", 400)

    assert body["error"]["code"] == "bad_request"


@pytest.mark.parametrize("raw", ["0", "99999999999999999999", "9" * 5000, "0" * 5000 + "1" * 30])
async def test_showtime_id_beyond_bigint_is_an_unknown_showtime(client: Client, raw: str) -> None:
    body = await json_of(client, f"/api/showtimes/{raw}", 404)

    assert body["error"]["code"] == "unknown_showtime"


async def test_showtime_says_when_sales_close(client: Client, demo: list[int]) -> None:
    body = await json_of(client, f"/api/showtimes/{demo[0]}", 200)

    starts_at = datetime.fromisoformat(body["starts_at"])
    assert datetime.fromisoformat(body["sales_close_at"]) == starts_at - timedelta(minutes=10)
    assert body["sales_close_at"][-6:] == body["starts_at"][-6:]  # the theater's offset
