"""Hostile best-available requests: each a well-formed refusal, never a traceback."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.protocol.conftest import Exchange
from tests.realtime.conftest import ClientFactory

BAD_BEST: list[Any] = [
    {"count": 0},
    {"count": -1},
    {"count": 2**64},
    {"count": 10**400},
    {"count": 1.0},
    {"count": "2"},
    {"count": "\u0662"},  # an Arabic-Indic digit two
    {"count": True},
    {"count": None},
    {},
    {"count": 2, "accessible": 3},
    {"count": 2, "accessible": -1},
    {"count": 2, "accessible": 2**70},
    {"count": 2, "types": ["gold\x00"]},
    {"count": 2, "types": ["Gold"]},
    {"count": 2, "types": ["g" * 33]},
    {"count": 2, "types": ["g" * 10_000]},
    {"count": 2, "types": ["gold", "gold"]},
    {"count": 2, "types": ["gold"] * 17},
    {"count": 2, "types": "gold"},
    {"count": 2, "types": [["gold"]]},
    {"count": 2, "types": ["\u0261old"]},
    {"count": 2, "extra": 1},
    "best",
    [2],
    None,
]


@pytest.mark.parametrize("best", BAD_BEST)
async def test_hostile_best_is_bad_message(connect: ClientFactory, exchange: Exchange,
                                           showtime: int, best: Any) -> None:
    client = await connect()
    # As JSON text: the client's own encoder refuses integers past 64 bits.
    frames = await exchange(client, json.dumps({"op": "hold", "ref": "b",
                                                "showtime": showtime, "best": best}))
    assert [(f["t"], f["code"]) for f in frames] == [("error", "bad_message")], frames


async def test_both_or_neither_of_seats_and_best_is_bad_message(
        connect: ClientFactory, exchange: Exchange, showtime: int) -> None:
    client = await connect()
    for extra in ({}, {"seats": ["A1"], "best": {"count": 1}}):
        frames = await exchange(client, {"op": "hold", "showtime": showtime, **extra})
        assert [(f["t"], f["code"]) for f in frames] == [("error", "bad_message")], frames


async def test_a_replayed_best_request_holds_more_seats_each_time_up_to_the_limit(
        connect: ClientFactory, exchange: Exchange, showtime: int) -> None:
    """A replay is a new request: each takes other seats, until the holder's limit."""
    client = await connect()
    held: list[str] = []
    for _ in range(3):
        frames = await exchange(client, {"op": "hold", "ref": "r", "showtime": showtime,
                                         "best": {"count": 2}})
        if frames[0]["ok"]:
            held += frames[0]["seats"]
        else:
            assert frames[0]["code"] == "too_many_seats"
    assert len(held) == len(set(held)) == 4  # the tests' limit of 4 seats
