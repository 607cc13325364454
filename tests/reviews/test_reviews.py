"""Reviews: who may write one, one per person and movie, editing, the public
listing and rating (hidden ones left out), and audited moderation."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from seatserver.http.roles import Role
from tests.admin.conftest import audit_rows
from tests.reviews.conftest import Admin, Film, book

Make = Any


def path(film: Film, rest: str = "") -> str:
    return f"/api/movies/{film.movie}/reviews{rest}"


async def reviewer(as_role: Make, db_pool: asyncpg.Pool, film: Film) -> Admin:
    """A customer who saw the film (a paid booking of its showtime that is over)."""
    customer: Admin = await as_role(Role.CUSTOMER)
    await book(db_pool, customer.id, film.past)
    return customer


async def test_a_customer_who_saw_the_movie_reviews_it(
        as_role: Make, db_pool: asyncpg.Pool, film: Film) -> None:
    customer = await reviewer(as_role, db_pool, film)

    mine = await customer.ok("GET", path(film, "/mine"))
    review = await customer.ok("POST", path(film), {"stars": 4, "text": "  Lovely.  "}, 201)

    assert mine == {"eligible": True, "review": None}
    assert (review["stars"], review["text"], review["hidden"]) == (4, "Lovely.", False)
    assert (await customer.ok("GET", path(film, "/mine")))["review"]["id"] == review["id"]


@pytest.mark.parametrize("booking", [None, "future", "cancelled", "pending"])
async def test_only_a_paid_booking_of_a_show_that_is_over_makes_one_eligible(
        as_role: Make, db_pool: asyncpg.Pool, film: Film, booking: str | None) -> None:
    customer: Admin = await as_role(Role.CUSTOMER)
    if booking == "future":
        await book(db_pool, customer.id, film.future)
    elif booking is not None:
        await book(db_pool, customer.id, film.past, status=booking)

    message = await customer.refused("POST", path(film), {"stars": 5, "text": "Great"},
                                     403, "not_eligible")

    assert "saw the movie" in message
    assert (await customer.ok("GET", path(film, "/mine")))["eligible"] is False


async def test_a_guest_is_told_to_sign_up_to_review(
        as_role: Make, db_pool: asyncpg.Pool, film: Film) -> None:
    guest: Admin = await as_role(Role.GUEST)
    await book(db_pool, guest.id, film.past)

    message = await guest.refused("POST", path(film), {"stars": 5, "text": "Great"},
                                  403, "not_eligible")

    assert "sign up" in message
    assert await guest.ok("GET", path(film, "/mine")) == {"eligible": False, "review": None}


async def test_one_review_per_person_and_movie_which_its_author_edits(
        as_role: Make, db_pool: asyncpg.Pool, film: Film) -> None:
    customer = await reviewer(as_role, db_pool, film)
    other = await reviewer(as_role, db_pool, film)
    first = await customer.ok("POST", path(film), {"stars": 2, "text": "Meh"}, 201)

    await customer.refused("POST", path(film), {"stars": 5, "text": "Again"},
                           409, "already_exists")
    edited = await customer.ok("PATCH", f"/api/reviews/{first['id']}", {"stars": 3})
    await other.refused("PATCH", f"/api/reviews/{first['id']}", {"stars": 1}, 404, "not_found")

    assert (edited["id"], edited["stars"], edited["text"]) == (first["id"], 3, "Meh")
    assert edited["updated_at"] > first["updated_at"]


@pytest.mark.parametrize(("body", "field"), [
    ({"stars": 0, "text": "x"}, "stars"), ({"stars": 6, "text": "x"}, "stars"),
    ({"stars": 3, "text": "   "}, "text"), ({"stars": 3, "text": "x" * 2001}, "text"),
    ({"stars": "5", "text": "x"}, "stars"), ({"text": "x"}, "stars"),
])
async def test_a_review_that_does_not_validate_names_the_field(
        as_role: Make, db_pool: asyncpg.Pool, film: Film, body: Any, field: str) -> None:
    customer = await reviewer(as_role, db_pool, film)

    message = await customer.refused("POST", path(film), body, 422, "invalid_input")

    assert message.startswith(f"{field}:")


async def test_hidden_reviews_are_neither_listed_nor_counted_and_hiding_is_audited(
        as_role: Make, db_pool: asyncpg.Pool, film: Film) -> None:
    reviews = []
    for stars in (5, 4, 1):
        customer = await reviewer(as_role, db_pool, film)
        reviews.append(await customer.ok("POST", path(film), {"stars": stars, "text": "ok"}, 201))
    admin: Admin = await as_role(Role.ADMIN)
    anyone: Admin = await as_role(Role.ANONYMOUS)

    before = await anyone.ok("GET", path(film))
    hidden = await admin.ok("PATCH", f"/api/admin/reviews/{reviews[2]['id']}",
                            {"hidden": True, "reason": "spoilers"})
    after = await anyone.ok("GET", path(film))
    listed = await admin.ok("GET", f"/api/admin/reviews?movie={film.movie}&hidden=true")

    assert before["rating"] == {"average": 3.33, "count": 3}
    assert after["rating"] == {"average": 4.5, "count": 2}
    assert [r["id"] for r in after["reviews"]] == [reviews[1]["id"], reviews[0]["id"]]
    assert (hidden["hidden"], hidden["hidden_reason"]) == (True, "spoilers")
    assert [r["id"] for r in listed["reviews"]] == [reviews[2]["id"]]
    [row] = await audit_rows(db_pool, admin.id)
    assert (row["action"], row["reason"]) == ("review.hidden", "spoilers")
    assert (row["before"]["hidden"], row["after"]["hidden"]) == (False, True)
    assert row["after"]["id"] == reviews[2]["id"]


async def test_the_catalog_shows_each_movie_with_its_rating(
        as_role: Make, db_pool: asyncpg.Pool, film: Film) -> None:
    customer = await reviewer(as_role, db_pool, film)
    await customer.ok("POST", path(film), {"stars": 4, "text": "Good"}, 201)

    movies = (await customer.ok("GET", "/api/catalog/movies"))["movies"]

    [shown] = [m for m in movies if m["id"] == film.movie]
    assert shown["rating"] == {"average": 4.0, "count": 1}


async def test_reviews_come_in_keyset_pages_newest_first(
        as_role: Make, db_pool: asyncpg.Pool, film: Film) -> None:
    made = [await (await reviewer(as_role, db_pool, film)).ok(
        "POST", path(film), {"stars": 3, "text": f"no. {n}"}, 201) for n in range(5)]
    anyone: Admin = await as_role(Role.ANONYMOUS)

    seen, cursor, pages = [], None, 0
    while True:
        page = await anyone.ok("GET", path(film, "?limit=2" + (f"&cursor={cursor}" if cursor
                                                               else "")))
        seen += [r["id"] for r in page["reviews"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == [r["id"] for r in reversed(made)]
    assert pages == 3


async def test_a_cursor_is_refused_by_another_query(
        as_role: Make, db_pool: asyncpg.Pool, film: Film) -> None:
    for _ in range(2):
        await (await reviewer(as_role, db_pool, film)).ok(
            "POST", path(film), {"stars": 3, "text": "fine"}, 201)
    admin: Admin = await as_role(Role.ADMIN)
    page = await admin.ok("GET", f"/api/admin/reviews?movie={film.movie}&limit=1")

    await admin.refused("GET", f"/api/admin/reviews?limit=1&cursor={page['next_cursor']}",
                        None, 400, "bad_cursor")
    await admin.refused("GET", path(film, "?cursor=not-a-cursor"), None, 400, "bad_cursor")


async def test_a_movie_that_does_not_exist_has_no_reviews(as_role: Make) -> None:
    anyone: Admin = await as_role(Role.ANONYMOUS)

    await anyone.refused("GET", "/api/movies/999999999/reviews", None, 404, "not_found")
