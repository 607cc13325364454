"""Hypothesis strategies for protocol v1 input: anything a client could send,
and commands that are valid in shape with hostile field values."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from seatserver.protocol.messages import OPS

# Bounded so the suite costs seconds: fixed examples (derandomize), no
# example database, no per-example deadline (a socket round trip varies).
BOUNDED = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture,
                                          HealthCheck.too_slow])

MSGPACK_INTS = st.integers(min_value=-(2**63), max_value=2**64 - 1)

# Text that breaks careless code: NULs, other scripts' digits, look-alikes,
# separators, long runs.
NASTY_TEXT = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["\x00", "²-0", "١٢-0", "1-99999999999999999999", "99999999999999999999-0",
                     "0-0", "1-0", "A1", "A1,A2", "\uff21\uff11", "", " ", "\n", "-", "*",
                     "'; DROP TABLE seats; --", "%00", "\\u0000", "x" * 65, "x" * 5000]),
)


def leaves(ints: st.SearchStrategy[int]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.booleans(), ints, st.floats(allow_nan=False,
                     allow_infinity=False), NASTY_TEXT)


def values(ints: st.SearchStrategy[int]) -> st.SearchStrategy[Any]:
    """Any decoded value: scalars, lists and maps nested a few deep."""
    return st.recursive(
        leaves(ints),
        lambda inner: st.lists(inner, max_size=4)
        | st.dictionaries(NASTY_TEXT, inner, max_size=4),
        max_leaves=12)


def commands(showtime: int, seats: list[str], ints: st.SearchStrategy[int]
             ) -> st.SearchStrategy[dict[str, Any]]:
    """A command of a known op, each field either sensible or hostile."""
    hostile = values(ints)
    seat_ids = st.sampled_from(seats[:8]) | NASTY_TEXT
    return st.fixed_dictionaries(
        {"op": st.sampled_from(OPS)},
        optional={
            "ref": st.one_of(NASTY_TEXT, ints, hostile),
            "showtime": st.one_of(st.just(showtime), ints, hostile),
            "seats": st.one_of(st.lists(seat_ids, max_size=6), st.lists(hostile, max_size=3),
                               hostile),
            "since": st.one_of(NASTY_TEXT, hostile),
            "epoch": st.one_of(NASTY_TEXT, hostile),
            "view": st.one_of(st.sampled_from(["seats", "summary"]), hostile),
        })
