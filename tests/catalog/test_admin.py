"""The admin's writes: typed inputs, and a coded refusal for everything wrong."""

from __future__ import annotations

import secrets
from typing import Any

import asyncpg
import pytest

from seatserver.audit import Actor
from seatserver.catalog.admin import CatalogAdminStore
from seatserver.catalog.inputs import (
    MovieInput,
    PriceOverrideInput,
    ScreenInput,
    ShowtimeInput,
    TheaterInput,
    parse_input,
)
from seatserver.errors import AlreadyExists, InUse, InvalidInput, NotFound
from tests.catalog.conftest import SMALL_LAYOUT, Venue, local


@pytest.mark.parametrize(("model", "data", "says"), [
    (TheaterInput, {"slug": "k", "name": "K", "city": "B", "time_zone": "Mars/Olympus"},
     "time_zone: 'Mars/Olympus' is not an IANA time zone"),
    (TheaterInput, {"slug": "k", "name": "K", "city": "B", "time_zone": "../../etc/passwd"},
     "is not an IANA time zone"),
    (TheaterInput, {"slug": "Kino Eins", "name": "K", "city": "B", "time_zone": "UTC"},
     "slug: String should match pattern"),
    (MovieInput, {"slug": "f", "title": "F", "runtime_min": 0}, "runtime_min: Input should be"),
    (MovieInput, {"slug": "f", "title": "F", "runtime_min": 90, "languages": ["en", "en"]},
     "languages: listed twice: en"),
    (MovieInput, {"slug": "f", "title": "F", "runtime_min": 90, "languages": ["English"]},
     "languages.0: String should match pattern"),
    (MovieInput, {"slug": "f", "title": "F", "runtime_min": 90, "poster_url": "ftp://x"},
     "poster_url: String should match pattern"),
    (MovieInput, {"slug": "f", "title": " ", "runtime_min": 90}, "title: String should have"),
    # What would show as something else than it is: controls, a line break in a
    # title, a bidirectional override turning "Avatar\u202etxt.exe" around.
    (MovieInput, {"slug": "f", "title": "F\x01", "runtime_min": 90},
     "title: contains the control character U+0001"),
    (MovieInput, {"slug": "f", "title": "One\nTwo", "runtime_min": 90},
     "title: contains the control character U+000A"),
    (MovieInput, {"slug": "f", "title": "Avatar\u202etxt.exe", "runtime_min": 90},
     "title: contains the bidirectional override U+202E"),
    (MovieInput, {"slug": "f", "title": "F", "runtime_min": 90, "genres": ["Dra\u0085ma"]},
     "genres.0: contains the control character U+0085"),
    (MovieInput, {"slug": "f", "title": "F", "runtime_min": 90, "synopsis": "a\x1bb"},
     "synopsis: contains the control character U+001B"),
    (TheaterInput, {"slug": "k", "name": "Kino\u2028Eins", "city": "B", "time_zone": "UTC"},
     "name: contains the line break U+2028"),
    (ScreenInput, {"theater_id": 1, "name": "Saal\u202d1", "layout": SMALL_LAYOUT},
     "name: contains the bidirectional override U+202D"),
    (ShowtimeInput, {"movie_id": 1, "screen_id": 1, "starts_at": "2027-01-01T20:00:00"},
     "starts_at: Input should have timezone info"),
    (ShowtimeInput, {"movie_id": 1, "screen_id": 1, "starts_at": "2027-01-01T20:00:00Z",
                     "currency": "eur"}, "currency: String should match pattern"),
])
def test_invalid_input_is_refused_naming_the_field(model: Any, data: dict[str, Any],
                                                   says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_input(model, data)

    assert caught.value.code == "invalid_input" and caught.value.status == 422
    assert says in caught.value.message


def test_text_that_reads_right_to_left_or_over_lines_where_it_may_is_taken() -> None:
    movie = parse_input(MovieInput, {
        "slug": "f", "title": "\u05d0\u05d5\u05e8 \u200f(2026)", "runtime_min": 90,
        "synopsis": "First line.\nSecond line.\tTabbed."})
    assert movie.title.endswith("(2026)") and "\n" in movie.synopsis
    theater = parse_input(TheaterInput, {"slug": "k", "name": "\u2067Kino\u2069",
                                         "city": "B", "time_zone": "UTC",
                                         "address": "Kanalstr. 1\n10115 Berlin"})
    assert theater.name == "\u2067Kino\u2069"


def test_input_models_describe_themselves_for_openapi() -> None:
    schema = ScreenInput.model_json_schema()

    assert schema["required"] == ["theater_id", "name", "layout"]
    assert {"SeatLayout", "LayoutRow", "LayoutSeat", "LayoutGap"} <= set(schema["$defs"])
    assert "IANA" in TheaterInput.model_json_schema()["properties"]["time_zone"]["description"]


async def test_a_taken_slug_or_screen_name_is_already_exists(
        venue: Venue, admin: CatalogAdminStore) -> None:
    with pytest.raises(AlreadyExists):
        await admin.create_movie(MovieInput(slug=venue.movie.slug, title="T", runtime_min=90))
    with pytest.raises(AlreadyExists):
        await admin.create_theater(TheaterInput(slug=venue.theater.slug, name="T", city="C",
                                                time_zone="UTC"))
    with pytest.raises(AlreadyExists):
        await admin.create_screen(ScreenInput(theater_id=venue.theater.id, name="1",
                                              layout=SMALL_LAYOUT))


async def test_a_movie_is_created_read_updated_and_deleted(admin: CatalogAdminStore) -> None:
    movie = await admin.create_movie(MovieInput(
        slug="crud-film", title="Crud", runtime_min=95, certificate="12",
        languages=["de", "en"], genres=["comedy"], poster_url="https://img.example/p.jpg"))
    assert await admin.get_movie(movie.id) == movie

    changed = await admin.update_movie(movie.id, MovieInput(slug="crud-film", title="Crud II",
                                                            runtime_min=99))
    assert (changed.title, changed.languages, changed.certificate) == ("Crud II", [], None)

    await admin.delete_movie(movie.id)
    assert await admin.get_movie(movie.id) is None
    with pytest.raises(NotFound):
        await admin.delete_movie(movie.id)
    with pytest.raises(NotFound):
        await admin.update_movie(movie.id, MovieInput(slug="x", title="X", runtime_min=9))


async def test_what_showtimes_need_cannot_be_deleted(venue: Venue,
                                                     admin: CatalogAdminStore) -> None:
    await venue.show(local("2027-04-01 20:00"))

    with pytest.raises(InUse, match="it has showtimes"):
        await admin.delete_movie(venue.movie.id)
    with pytest.raises(InUse, match="it has showtimes"):
        await admin.delete_screen(venue.screens[0].id)
    with pytest.raises(InUse, match="its screens have showtimes"):
        await admin.delete_theater(venue.theater.id)
    await admin.delete_screen(venue.screens[1].id)  # no showtimes: fine
    assert await admin.get_screen(venue.screens[1].id) is None


async def test_a_showtime_for_a_missing_movie_or_screen_is_invalid(
        venue: Venue, admin: CatalogAdminStore) -> None:
    with pytest.raises(InvalidInput, match="there is no movie 999999999"):
        await venue.show(local("2027-04-02 20:00"), movie_id=999_999_999)
    with pytest.raises(InvalidInput, match="there is no screen 999999999"):
        await admin.create_showtime(ShowtimeInput(movie_id=venue.movie.id,
                                                  screen_id=999_999_999,
                                                  starts_at=local("2027-04-02 20:00")))


async def test_a_theater_update_keeps_its_showtimes_but_reprices_by_the_new_zone(
        venue: Venue, admin: CatalogAdminStore) -> None:
    show = await venue.show(local("2027-04-02 23:30"))  # Friday night in Berlin
    assert show.prices["gold"].amount == 1000

    await admin.update_theater(venue.theater.id, TheaterInput(
        slug=venue.theater.slug, name=venue.theater.name, city="Tokyo",
        time_zone="Asia/Tokyo", cleaning_min=20))

    moved = await venue.catalog.showtime(show.id)
    assert moved is not None and moved.theater.time_zone == "Asia/Tokyo"
    assert moved.prices["gold"].amount == 1200  # Saturday morning in Tokyo
    assert moved.ends_at == show.ends_at  # the show itself did not move


async def test_a_screen_keeps_its_theater(venue: Venue, admin: CatalogAdminStore) -> None:
    other = await admin.create_theater(TheaterInput(slug="elsewhere-" + venue.theater.slug,
                                                    name="E", city="C", time_zone="UTC"))

    with pytest.raises(InvalidInput, match="cannot move to another theater"):
        await admin.update_screen(venue.screens[0].id, ScreenInput(
            theater_id=other.id, name="1", layout=SMALL_LAYOUT))
    renamed = await admin.update_screen(venue.screens[0].id, ScreenInput(
        theater_id=venue.theater.id, name="Saal Eins", layout=SMALL_LAYOUT))
    assert renamed.name == "Saal Eins"


# PostgreSQL text cannot hold a NUL character: an audit row naming this address
# is refused by the database itself, after the change it records was written.
# An actor of its own: "user:1" was also the admin of tests run earlier in the
# session's database (tests/admin), whose audit rows the test then counted.
UNWRITABLE = Actor(f"user:{secrets.randbelow(10**9) + 10**9}", remote="bad\x00address")


async def test_a_change_whose_audit_row_fails_is_rolled_back_with_it(
        venue: Venue, db_pool: asyncpg.Pool) -> None:
    admin, movie = venue.admin, venue.movie
    slug = f"film-{secrets.token_hex(4)}"
    with pytest.raises(asyncpg.PostgresError):
        await admin.create_movie(MovieInput(slug=slug, title="Lost", runtime_min=90),
                                 UNWRITABLE)
    with pytest.raises(asyncpg.PostgresError):
        await admin.update_movie(movie.id, MovieInput(slug=movie.slug, title="Renamed",
                                                      runtime_min=90), UNWRITABLE)
    show = await venue.show(local("2031-05-06 20:00"))
    with pytest.raises(asyncpg.PostgresError):
        await admin.set_price_override(
            show.id, PriceOverrideInput(seat_type="vip", amount=1), UNWRITABLE)
    with pytest.raises(asyncpg.PostgresError):
        await admin.delete_showtime(show.id, UNWRITABLE)

    assert await admin.get_movie(movie.id) == movie
    assert await admin.get_showtime(show.id) == show
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM movies WHERE slug = $1", slug) == 0
        assert await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE actor = $1", UNWRITABLE.name) == 0


async def test_each_change_writes_its_audit_row_and_a_refused_one_writes_none(
        venue: Venue, db_pool: asyncpg.Pool) -> None:
    someone = Actor(f"user:{secrets.randbelow(10**9) + 10**9}", "192.0.2.7")
    show = await venue.admin.create_showtime(ShowtimeInput(
        movie_id=venue.movie.id, screen_id=venue.screens[0].id,
        starts_at=local("2031-05-07 20:00")), someone)
    prices = await venue.admin.set_price_override(
        show.id, PriceOverrideInput(seat_type="vip", amount=1999), someone)
    assert prices.overrides == {"vip": 1999} and prices.prices["vip"].amount == 1999
    with pytest.raises(InUse):
        await venue.admin.delete_movie(venue.movie.id, someone)
    async with db_pool.acquire() as conn:
        rows = await conn.fetch("SELECT action, remote FROM audit_log WHERE actor = $1 "
                                "ORDER BY id", someone.name)
    assert [(r["action"], r["remote"]) for r in rows] == [
        ("showtime.created", "192.0.2.7"), ("showtime.price_set", "192.0.2.7")]
