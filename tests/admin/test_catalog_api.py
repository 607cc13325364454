"""The admin API for the catalog: each entity's changes, their refusals, and
the audit rows (who, what, before and after, from where) they leave."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from seatserver.http.roles import Role
from tests.admin.conftest import Admin, audit_rows
from tests.catalog.conftest import SMALL_LAYOUT

ADMIN_ROUTES = [
    ("GET", "/api/admin/movies"), ("GET", "/api/admin/theaters"),
    ("POST", "/api/admin/movies"), ("GET", "/api/admin/movies/{id}"),
    ("PUT", "/api/admin/movies/{id}"), ("DELETE", "/api/admin/movies/{id}"),
    ("POST", "/api/admin/theaters"), ("GET", "/api/admin/theaters/{id}"),
    ("PUT", "/api/admin/theaters/{id}"), ("DELETE", "/api/admin/theaters/{id}"),
    ("GET", "/api/admin/theaters/{id}/prices"),
    ("POST", "/api/admin/screens"), ("GET", "/api/admin/screens/{id}"),
    ("PUT", "/api/admin/screens/{id}"), ("DELETE", "/api/admin/screens/{id}"),
    ("GET", "/api/admin/showtimes"), ("POST", "/api/admin/showtimes"),
    ("PUT", "/api/admin/showtimes/{id}"), ("DELETE", "/api/admin/showtimes/{id}"),
    ("GET", "/api/admin/showtimes/{id}/prices"), ("PUT", "/api/admin/showtimes/{id}/prices"),
    ("DELETE", "/api/admin/showtimes/{id}/prices/{seat_type}"),
    ("PUT", "/api/admin/prices"), ("DELETE", "/api/admin/prices/{id}"),
]
BOOKING_ROUTES = [
    ("GET", "/api/admin/bookings"), ("GET", "/api/admin/bookings/attention"),
    ("POST", "/api/admin/bookings/{ref}/cancel"), ("GET", "/api/admin/outbox/dead"),
    ("POST", "/api/admin/outbox/requeue"),
]


def movie_body(**changes: Any) -> dict[str, Any]:
    return {"slug": f"film-{secrets.token_hex(4)}", "title": "Northern Lights",
            "runtime_min": 100, "languages": ["en"], "genres": ["drama"], **changes}


def theater_body(**changes: Any) -> dict[str, Any]:
    return {"slug": f"kino-{secrets.token_hex(4)}", "name": "Kino", "city": "Berlin",
            "time_zone": "Europe/Berlin", **changes}


def next_week(hour: int = 20) -> str:
    day = datetime.now(UTC) + timedelta(days=7)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0).isoformat()


async def venue(admin: Admin) -> dict[str, Any]:
    """A theater with one screen, EUR prices and a movie, made through the API."""
    theater = await admin.ok("POST", "/api/admin/theaters", theater_body(), 201)
    screen = await admin.ok("POST", "/api/admin/screens", {
        "theater_id": theater["id"], "name": "1", "layout": SMALL_LAYOUT}, 201)
    for seat_type, amount in (("silver", 800), ("gold", 1000), ("vip", 1500)):
        for day_kind in ("weekday", "weekend"):
            await admin.ok("PUT", "/api/admin/prices", {
                "theater_id": theater["id"], "seat_type": seat_type, "day_kind": day_kind,
                "amount": amount, "currency": "EUR"}, 201)
    movie = await admin.ok("POST", "/api/admin/movies", movie_body(), 201)
    return {"theater": theater, "screen": screen, "movie": movie}


async def test_admin_creates_changes_and_deletes_a_movie_each_step_audited_with_before_after(
        admin: Admin, db_pool: asyncpg.Pool) -> None:
    created = await admin.ok("POST", "/api/admin/movies", movie_body(), 201)
    path = f"/api/admin/movies/{created['id']}"
    assert await admin.ok("GET", path) == created

    changed = await admin.ok("PUT", path, movie_body(slug=created["slug"], title="Dawn"))
    assert changed["title"] == "Dawn"
    listed = (await admin.ok("GET", "/api/admin/movies"))["movies"]
    assert changed in listed
    await admin.ok("DELETE", path, status=204)
    await admin.refused("GET", path, None, 404, "not_found")

    rows = await audit_rows(db_pool, admin.id)
    assert [r["action"] for r in rows] == ["movie.created", "movie.updated", "movie.deleted"]
    assert (rows[0]["before"], rows[0]["after"]) == (None, created)
    assert (rows[1]["before"], rows[1]["after"]) == (created, changed)
    assert (rows[2]["before"], rows[2]["after"]) == (changed, None)
    assert all(r["remote"] == "127.0.0.1" for r in rows)


@pytest.mark.parametrize(("body", "field"), [
    (movie_body(runtime_min=0), "runtime_min"),
    (movie_body(slug="Not A Slug"), "slug"),
    (movie_body(languages=["english!"]), "languages.0"),
    (movie_body(surprise=1), "surprise"),
])
async def test_a_movie_with_a_bad_field_is_refused_naming_the_field(
        admin: Admin, db_pool: asyncpg.Pool, body: dict[str, Any], field: str) -> None:
    message = await admin.refused("POST", "/api/admin/movies", body, 422, "invalid_input")
    assert message.startswith(f"{field}:")
    assert await audit_rows(db_pool, admin.id) == []


async def test_a_body_that_is_not_json_is_a_bad_request(admin: Admin) -> None:
    status, answer = await admin.call("POST", "/api/admin/movies",
                                      headers={"Content-Type": "application/json"})
    assert (status, answer["error"]["code"]) == (400, "bad_request")


async def test_a_taken_slug_is_already_exists_and_a_missing_movie_not_found(
        admin: Admin) -> None:
    movie = await admin.ok("POST", "/api/admin/movies", movie_body(), 201)
    await admin.refused("POST", "/api/admin/movies", movie_body(slug=movie["slug"]),
                        409, "already_exists")
    await admin.refused("PUT", "/api/admin/movies/999999999", movie_body(), 404, "not_found")
    await admin.refused("DELETE", "/api/admin/movies/abc", None, 400, "bad_request")


async def test_a_theater_in_an_unknown_time_zone_is_refused_and_updates_are_audited(
        admin: Admin, db_pool: asyncpg.Pool) -> None:
    message = await admin.refused("POST", "/api/admin/theaters",
                                  theater_body(time_zone="Mars/Olympus"), 422, "invalid_input")
    assert message.startswith("time_zone:")
    theater = await admin.ok("POST", "/api/admin/theaters", theater_body(), 201)
    moved = await admin.ok("PUT", f"/api/admin/theaters/{theater['id']}",
                           theater_body(slug=theater["slug"], cleaning_min=30))
    assert moved["cleaning_min"] == 30
    rows = await audit_rows(db_pool, admin.id)
    assert rows[-1]["action"] == "theater.updated"
    assert rows[-1]["before"]["cleaning_min"] == 15 and rows[-1]["after"]["cleaning_min"] == 30


async def test_a_screen_keeps_its_layout_and_a_bad_layout_names_the_seat(
        admin: Admin, db_pool: asyncpg.Pool) -> None:
    made = await venue(admin)
    screen = made["screen"]
    assert await admin.ok("GET", f"/api/admin/screens/{screen['id']}") == screen
    assert [row["row"] for row in screen["layout"]["rows"]] == ["A", "B"]
    theaters = (await admin.ok("GET", "/api/admin/theaters"))["theaters"]
    mine = [t for t in theaters if t["theater"]["id"] == made["theater"]["id"]]
    assert mine == [{"theater": made["theater"], "screens": [{"id": screen["id"], "name": "1"}]}]

    bad = {"rows": [{"row": "A", "seats": [{"number": 1, "type": "silver"},
                                           {"number": 1, "type": "silver"}]}]}
    message = await admin.refused("POST", "/api/admin/screens", {
        "theater_id": made["theater"]["id"], "name": "2", "layout": bad}, 422, "bad_layout")
    assert message.endswith("row A seat 1: the number is used twice in the row")

    smaller = {"rows": SMALL_LAYOUT["rows"][:1]}
    changed = await admin.ok("PUT", f"/api/admin/screens/{screen['id']}", {
        "theater_id": made["theater"]["id"], "name": "One", "layout": smaller})
    assert changed["name"] == "One"
    row = (await audit_rows(db_pool, admin.id))[-1]
    assert row["action"] == "screen.updated"
    assert (row["before"], row["after"]) == (screen, changed)


async def test_a_showtime_made_by_the_admin_is_listed_publicly_and_an_overlap_is_refused(
        admin: Admin, db_pool: asyncpg.Pool) -> None:
    made = await venue(admin)
    body = {"movie_id": made["movie"]["id"], "screen_id": made["screen"]["id"],
            "starts_at": next_week(18)}
    showtime = await admin.ok("POST", "/api/admin/showtimes", body, 201)
    assert showtime["currency"] == "EUR"

    public = await admin.ok("GET", f"/api/showtimes/{showtime['id']}")
    assert public["movie"]["title"] == made["movie"]["title"]

    message = await admin.refused("POST", "/api/admin/showtimes",
                                  {**body, "starts_at": next_week(19)}, 409, "showtime_overlap")
    assert re.search(rf"showtime {showtime['id']} starts", message)
    await admin.refused("POST", "/api/admin/showtimes",
                        {**body, "starts_at": "2001-01-01T20:00:00+00:00"}, 422,
                        "invalid_input")

    later = await admin.ok("PUT", f"/api/admin/showtimes/{showtime['id']}",
                           {**body, "starts_at": next_week(21)})
    assert later["starts_at"] != showtime["starts_at"]
    await admin.ok("DELETE", f"/api/admin/showtimes/{showtime['id']}", status=204)
    actions = [r["action"] for r in await audit_rows(db_pool, admin.id)]
    assert actions[-3:] == ["showtime.created", "showtime.updated", "showtime.deleted"]


async def test_price_rules_and_a_showtimes_override_are_set_reset_and_audited(
        admin: Admin, db_pool: asyncpg.Pool) -> None:
    made = await venue(admin)
    theater_id = made["theater"]["id"]
    rule = {"theater_id": theater_id, "seat_type": "gold", "day_kind": "weekday",
            "amount": 1100, "currency": "EUR"}
    replaced = await admin.ok("PUT", "/api/admin/prices", rule)
    assert replaced["amount"] == 1100
    await admin.refused("PUT", "/api/admin/prices", {**rule, "currency": "USD"}, 422,
                        "invalid_input")
    rules = (await admin.ok("GET", f"/api/admin/theaters/{theater_id}/prices"))["rules"]
    assert len(rules) == 6

    showtime = await admin.ok("POST", "/api/admin/showtimes", {
        "movie_id": made["movie"]["id"], "screen_id": made["screen"]["id"],
        "starts_at": next_week()}, 201)
    path = f"/api/admin/showtimes/{showtime['id']}/prices"
    prices = (await admin.ok("PUT", path, {"seat_type": "vip", "amount": 2000}))["prices"]
    assert prices["vip"]["amount"] == 2000
    back = (await admin.ok("DELETE", f"{path}/vip"))["prices"]
    assert back["vip"]["amount"] == 1500

    await admin.ok("DELETE", f"/api/admin/prices/{replaced['id']}", status=204)
    rows = await audit_rows(db_pool, admin.id)
    by_action = {r["action"]: r for r in rows}
    assert by_action["price_rule.set"]["after"]["amount"] in (1100, 1500)
    gold = [r for r in rows if r["action"] == "price_rule.set"
            and r["after"]["seat_type"] == "gold" and r["after"]["day_kind"] == "weekday"]
    assert (gold[-1]["before"]["amount"], gold[-1]["after"]["amount"]) == (1000, 1100)
    assert by_action["showtime.price_set"]["after"]["vip"]["amount"] == 2000
    assert by_action["showtime.price_reset"]["before"]["vip"]["amount"] == 2000
    assert by_action["price_rule.deleted"]["before"] == replaced


async def test_showtimes_are_listed_by_screen_and_date_in_pages_with_their_overrides(
        admin: Admin) -> None:
    made = await venue(admin)
    second = await admin.ok("POST", "/api/admin/screens", {
        "theater_id": made["theater"]["id"], "name": "2", "layout": SMALL_LAYOUT}, 201)
    shows = [await admin.ok("POST", "/api/admin/showtimes", {
        "movie_id": made["movie"]["id"], "screen_id": screen["id"], "starts_at": next_week(hour)},
        201) for screen, hour in ((made["screen"], 14), (made["screen"], 18), (second, 18))]
    day = shows[0]["starts_at"][:10]

    query = f"theater={made['theater']['id']}&screen={made['screen']['id']}&date={day}&limit=1"
    first = await admin.ok("GET", f"/api/admin/showtimes?{query}")
    assert [s["id"] for s in first["showtimes"]] == [shows[0]["id"]]
    rest = await admin.ok("GET", f"/api/admin/showtimes?{query}&cursor={first['next_cursor']}")
    assert [s["id"] for s in rest["showtimes"]] == [shows[1]["id"]]
    assert rest["next_cursor"] is None
    await admin.refused("GET", "/api/admin/showtimes?screen=x", None, 400, "bad_request")

    path = f"/api/admin/showtimes/{shows[2]['id']}/prices"
    await admin.ok("PUT", path, {"seat_type": "gold", "amount": 1234})
    prices = await admin.ok("GET", path)
    assert prices["overrides"] == {"gold": 1234}
    assert (prices["prices"]["gold"]["amount"], prices["prices"]["vip"]["amount"]) == (1234, 1500)
    await admin.refused("GET", "/api/admin/showtimes/999999999/prices", None, 404, "not_found")


async def test_a_theater_whose_screen_has_showtimes_is_in_use(admin: Admin) -> None:
    made = await venue(admin)
    await admin.ok("POST", "/api/admin/showtimes", {
        "movie_id": made["movie"]["id"], "screen_id": made["screen"]["id"],
        "starts_at": next_week()}, 201)
    await admin.refused("DELETE", f"/api/admin/theaters/{made['theater']['id']}", None,
                        409, "in_use")
    await admin.refused("DELETE", f"/api/admin/movies/{made['movie']['id']}", None,
                        409, "in_use")


@pytest.mark.parametrize("role", [Role.ANONYMOUS, Role.GUEST, Role.CUSTOMER, Role.KIOSK])
async def test_only_admins_may_call_the_admin_api(as_role: Any, role: Role) -> None:
    caller: Admin = await as_role(role)
    for method, path in ADMIN_ROUTES:
        url = path.replace("{id}", "1").replace("{seat_type}", "vip")
        status, _ = await caller.call(method, url, {} if method != "GET" else None)
        assert status == (401 if role is Role.ANONYMOUS else 403), (method, path, status)


async def test_a_showtimes_seating_rules_default_change_and_are_validated(
        admin: Admin) -> None:
    made = await venue(admin)
    body = {"movie_id": made["movie"]["id"], "screen_id": made["screen"]["id"],
            "starts_at": next_week(18)}
    showtime = await admin.ok("POST", "/api/admin/showtimes", body, 201)
    assert showtime["seating"] == {"no_orphans": True, "companions_alone": False}

    path = f"/api/admin/showtimes/{showtime['id']}"
    changed = await admin.ok("PUT", path, {**body, "no_orphans": False,
                                           "companions_alone": True})
    assert changed["seating"] == {"no_orphans": False, "companions_alone": True}
    kept = await admin.ok("PUT", path, body)  # left out: unchanged
    assert kept["seating"] == {"no_orphans": False, "companions_alone": True}
    public = await admin.ok("GET", f"/api/showtimes/{showtime['id']}")
    assert public["seating"] == {"no_orphans": False, "companions_alone": True}
    for bad in ("yes", 1, "true", [True], {}):
        await admin.refused("PUT", path, {**body, "no_orphans": bad}, 422, "invalid_input")
