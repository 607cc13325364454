"""Seats in the order people read them: row, then number (A2, A10, B1).

Seat ids are the row's label followed by the number (``C7``) unless a
layout names them otherwise, and labels run ``A``…``Z``, ``AA``… or are
numbers. So an id is read as runs of letters and of digits: digits compare
as numbers (2 before 10), letters by length first (``Z`` before ``AA``),
then alphabetically. Everything that lists a booking's seats (the API, the
receipt, the e-mail, the calendar entry) orders them with this one key;
``web/shared/format.js`` (``compareSeats``) does the same for the pages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")

_RUNS = re.compile(r"[0-9]+|[^0-9]+")


def seat_key(seat_id: str) -> tuple[tuple[int, int, str], ...]:
    """The sort key of a seat id; ids of one shape compare run by run."""
    key = []
    for run in _RUNS.findall(seat_id):
        if run.isascii() and run.isdigit():
            key.append((1, int(run), run))
        else:
            key.append((0, len(run), run.upper()))
    return tuple(key)


def in_seat_order(items: Iterable[T], seat_id: Callable[[T], str]) -> list[T]:
    """``items`` sorted by their seats' ids in natural order."""
    return sorted(items, key=lambda item: seat_key(seat_id(item)))
