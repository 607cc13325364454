"""Seats in natural order (row, then number) wherever a booking lists them."""

from __future__ import annotations

import random

import pytest

from seatserver.bookings.seat_order import in_seat_order, seat_key


@pytest.mark.parametrize("ordered", [
    ["A2", "A10", "B1"],
    ["E8", "E9", "E10", "E11", "F1"],
    # Rows past Z as layouts name them: AA, AB, …, then AAA.
    ["Y3", "Z1", "Z12", "AA1", "AA2", "AB1", "ZZ9", "AAA1"],
    # Numbered rows, and ids a layout gave itself.
    ["1-2", "1-10", "2-1", "10-1"],
    ["a3", "A10"],
])
def test_seats_sort_by_row_then_number(ordered: list[str]) -> None:
    for _ in range(5):
        shuffled = random.sample(ordered, len(ordered))
        assert in_seat_order(shuffled, str) == ordered


def test_non_ascii_digits_are_text_not_numbers() -> None:
    assert seat_key("A\u0663") != seat_key("A3")
    assert in_seat_order(["A\u0663", "A3"], str)[0] == "A3"
