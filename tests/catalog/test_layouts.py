"""Seat layouts: every refusal names the row and seat; booked seats survive edits."""

from __future__ import annotations

import copy
import secrets
from typing import Any

import asyncpg
import pytest

from seatserver.catalog.admin import CatalogAdminStore
from seatserver.catalog.inputs import ScreenInput, parse_input
from seatserver.catalog.layouts import parse_layout
from seatserver.errors import BadLayout, InUse
from tests.catalog.conftest import SMALL_LAYOUT, Venue, local


def row(label: str, *items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"row": label, "seats": list(items), **extra}


def seat(number: int, kind: str = "gold", **extra: Any) -> dict[str, Any]:
    return {"number": number, "type": kind, **extra}


def refusal(layout: Any) -> str:
    with pytest.raises(BadLayout) as caught:
        parse_layout(layout)
    assert caught.value.code == "bad_layout" and caught.value.status == 422
    return caught.value.message


def test_a_layout_places_seats_left_to_right_with_gaps_and_explicit_columns() -> None:
    layout = parse_layout({"screen": "bottom", "rows": [
        row("A", {"gap": 2}, seat(1), seat(2), {"gap": 1}, seat(3, x=9)),
        row("B", seat(1, id="B-1"), y=4)]})

    placed = {s.seat_id: (s.x, s.y) for s in layout.seats}
    assert placed == {"A1": (2, 0), "A2": (3, 0), "A3": (9, 0), "B-1": (0, 4)}
    assert layout.hints() == {"width": 10, "height": 5, "screen": "bottom"}


def test_a_companion_seat_beside_its_wheelchair_space_is_accepted() -> None:
    layout = parse_layout(SMALL_LAYOUT)

    a2 = next(s for s in layout.seats if s.seat_id == "A2")
    assert a2.companion_of == "A1" and not a2.accessible


@pytest.mark.parametrize(("layout", "named"), [
    ({"rows": [row("A", seat(1), seat(2)), row("B")]}, "row B: the row has no seats"),
    ({"rows": [row("A", seat(1), seat(2), seat(1))]},
     "row A seat 1: the number is used twice in the row"),
    ({"rows": [row("A", seat(1)), row("A", seat(2))]}, "row A: the label is used twice"),
    ({"rows": [row("A", seat(11)), row("A1", seat(1))]},
     "row A1 seat 1: seat id A11 is also row A seat 11's"),
    ({"rows": [row("A", seat(1), seat(2, x=0))]},
     "row A seat 2: position (0, 0) is also row A seat 1's"),
    ({"rows": [row("A", seat(1)), row("B", seat(1), y=0)]}, "row B: y 0 is already row A's"),
    ({"rows": [row("A", seat(1), seat(2, companion_of="A1"))]},
     "row A seat 2: companion of A1, which is not an accessible seat"),
    ({"rows": [row("A", seat(1, accessible=True), {"gap": 1}, seat(2, companion_of="A1"))]},
     "row A seat 2: companion of A1, which is not right beside it in the same row"),
    ({"rows": [row("A", seat(1, accessible=True)), row("B", seat(1, companion_of="A1"))]},
     "row B seat 1: companion of A1, which is not right beside it"),
    ({"rows": [row("A", seat(1), seat(2, companion_of="Z9"))]},
     "row A seat 2: companion of Z9, which is not a seat of this layout"),
    ({"rows": [row("A", seat(1, accessible=True), seat(2, accessible=True,
                                                         companion_of="A1"))]},
     "row A seat 2: a wheelchair space cannot also be a companion seat"),
    ({"rows": [row("A", seat(1), {"number": "two", "type": "gold"})]},
     "row A item #2, number: Input should be a valid integer"),
    ({"rows": [row("C", seat(1), seat(2, kind="Gold!"))]}, "row C seat 2, type: String should"),
    ({"rows": [row("C", seat(1), seat(2, wheelchair=True))]},
     "row C seat 2, wheelchair: Extra inputs are not permitted"),
    ({"rows": [row("D", seat(1), {"gap": 0})]}, "row D item #2, gap: Input should be greater"),
    ({"rows": [row("E", seat(0))]}, "row E seat 0, number: Input should be greater"),
    ({"rows": [row("F", seat(1, x=500))]}, "row F seat 1, x: Input should be less"),
    ({"rows": []}, "rows: List should have at least 1 item"),
    ({"rows": [{"seats": [seat(1)]}]}, "row #1, row: Field required"),
    # Hostile labels and numbers are placed, not echoed back.
    ({"rows": [row("A", seat(1)), row("B\x00", seat(1))]}, "row #2, row: String should match"),
    ({"rows": [row("A" * 500, seat(1))]}, "row #1, row: String should match"),
    ({"rows": [row("\u0661\u0662", seat(1))]}, "row #1, row: String should match"),
    ({"rows": [row("G", {"number": 10**30, "type": "gold"})]},
     "row G item #1, number: Input should be less than or equal to 999"),
    ("A1 A2", "Input should be a valid dictionary"),
])
def test_a_bad_layout_is_refused_naming_the_row_and_seat(layout: Any, named: str) -> None:
    assert named in refusal(layout)


def test_a_layout_inside_a_screen_is_refused_with_the_same_names() -> None:
    with pytest.raises(BadLayout) as caught:
        parse_input(ScreenInput, {"theater_id": 1, "name": "1", "layout": {
            "rows": [row("A", seat(1)), row("B", seat(1), {"number": 1, "type": 7})]}})

    assert caught.value.message.startswith("row B seat 1, type: Input should be a valid string")


async def test_an_unknown_seat_type_is_refused_naming_the_seat(
        venue: Venue, admin: CatalogAdminStore) -> None:
    layout = copy.deepcopy(SMALL_LAYOUT)
    layout["rows"][1]["seats"][1]["type"] = "sofa"

    with pytest.raises(BadLayout) as caught:
        await admin.replace_layout(venue.screens[0].id, parse_layout(layout))

    assert caught.value.message.startswith("row B seat 2: unknown seat type 'sofa'")
    assert caught.value.seats == ["B2"]


async def test_a_stored_layout_reads_back_with_every_position_explicit(
        venue: Venue, admin: CatalogAdminStore) -> None:
    screen = await admin.get_screen(venue.screens[0].id)

    assert screen is not None
    assert screen.layout.seats == parse_layout(SMALL_LAYOUT).seats
    assert screen.layout.model_dump(exclude_none=True)["rows"][0]["seats"][2] == {
        "number": 3, "type": "gold", "x": 3, "id": "A3", "accessible": False}


async def sell(pool: asyncpg.Pool, showtime: int, seat_ids: list[str],
               status: str = "booked") -> None:
    """A sale straight into the tables, as checkout leaves one."""
    async with pool.acquire() as conn, conn.transaction():
        user = await conn.fetchval("INSERT INTO users DEFAULT VALUES RETURNING id")
        reference = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
                            for _ in range(10))
        booking = await conn.fetchval(
            """INSERT INTO bookings (reference, user_id, showtime_id, status, amount, currency,
                                     hold_deadline)
               VALUES ($1, $2, $3, $4, 0, 'EUR', now() + interval '10 minutes')
               RETURNING id""", reference, user, showtime, status)
        await conn.executemany(
            """INSERT INTO booking_seats (booking_id, showtime_id, seat_id, seat_type, amount,
                                          active)
               VALUES ($1, $2, $3, 'gold', 0, $4)""",
            [(booking, showtime, s, status in ("pending", "booked")) for s in seat_ids])


async def test_a_layout_edit_that_drops_booked_seats_is_refused_naming_them(
        venue: Venue, admin: CatalogAdminStore, db_pool: asyncpg.Pool) -> None:
    show = await venue.show(local("2027-05-04 20:00"))
    await sell(db_pool, show.id, ["A3", "B2"])
    shrunk = copy.deepcopy(SMALL_LAYOUT)
    shrunk["rows"][0]["seats"] = shrunk["rows"][0]["seats"][:3]  # no A3, A4
    shrunk["rows"][1]["seats"][1]["id"] = "B-2"  # B2 renamed

    with pytest.raises(InUse) as caught:
        await admin.replace_layout(venue.screens[0].id, parse_layout(shrunk))

    assert caught.value.seats == ["A3", "B2"]
    assert "A3, B2" in caught.value.message
    screen = await admin.get_screen(venue.screens[0].id)
    assert screen is not None and len(screen.layout.seats) == 6  # unchanged


async def test_a_layout_edit_that_keeps_booked_seats_is_allowed(
        venue: Venue, admin: CatalogAdminStore, db_pool: asyncpg.Pool) -> None:
    show = await venue.show(local("2027-05-05 20:00"))
    await sell(db_pool, show.id, ["A3"])
    changed = copy.deepcopy(SMALL_LAYOUT)
    del changed["rows"][0]["seats"][4]  # A4 goes: nobody bought it
    changed["rows"][0]["seats"][3]["type"] = "vip"  # A3 stays, as a VIP seat
    changed["rows"].append(row("C", seat(1), seat(2)))

    screen = await admin.replace_layout(venue.screens[0].id, parse_layout(changed))

    assert {s.seat_id for s in screen.layout.seats} == {"A1", "A2", "A3", "B1", "B2", "C1", "C2"}
    seat_map = await venue.catalog.get_showtime(show.id)
    assert seat_map is not None
    assert next(s for s in seat_map.seats if s.id == "A3").type == "vip"


async def test_seats_of_cancelled_bookings_do_not_hold_a_layout_back(
        venue: Venue, admin: CatalogAdminStore, db_pool: asyncpg.Pool) -> None:
    show = await venue.show(local("2027-05-06 20:00"))
    await sell(db_pool, show.id, ["B1", "B2"], status="cancelled")
    front_only = {"rows": [SMALL_LAYOUT["rows"][0]]}

    screen = await admin.replace_layout(venue.screens[0].id, parse_layout(front_only))

    assert len(screen.layout.seats) == 4
