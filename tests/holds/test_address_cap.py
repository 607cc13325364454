"""The per-address seat cap inside the hold script, on the real Redis and on
fakeredis: counted across holders, freed by every way a hold ends (release,
expiry, booking, cancel, the key's TTL backstop) although those scripts know
no addresses."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from seatserver import redis_keys
from seatserver.errors import TooManySeats
from seatserver.holds import HoldEngine
from tests.holds.conftest import EngineFactory

ST = 7
HOME = "198.51.100.7"
OFFICE = "203.0.113.9"


@pytest.fixture
def capped(make_engine: EngineFactory) -> HoldEngine:
    """Four seats per holder, six per address."""
    return make_engine(max_seats=4, per_address=6)


async def test_cap_counts_seats_of_every_holder_from_one_address(capped: HoldEngine) -> None:
    await capped.hold(ST, "u1", ["A1", "A2", "A3", "A4"], address=HOME)
    await capped.hold(ST, "u2", ["B1"], address=HOME)

    with pytest.raises(TooManySeats) as refused:
        await capped.hold(ST, "u3", ["C1", "C2"], address=HOME)

    assert "one address" in refused.value.message
    await capped.hold(ST, "u3", ["C1"], address=HOME)  # exactly six
    await capped.hold(ST, "u4", ["D1", "D2", "D3", "D4"], address=OFFICE)
    snap = await capped.snapshot(ST)
    assert len(snap.held) == 10


async def test_refused_hold_takes_nothing(capped: HoldEngine, redis: Redis) -> None:
    await capped.hold(ST, "u1", ["A1", "A2", "A3", "A4"], address=HOME)
    await capped.hold(ST, "u2", ["B1", "B2"], address=HOME)
    before = await redis.xlen(redis_keys.events(ST))

    with pytest.raises(TooManySeats):
        await capped.hold(ST, "u3", ["C1"], address=HOME)

    assert await redis.hget(redis_keys.held(ST), "C1") is None
    assert await redis.xlen(redis_keys.events(ST)) == before
    assert (await capped.snapshot(ST, "u3")).mine == {}


async def test_reholding_own_seats_at_the_cap_is_not_refused(capped: HoldEngine) -> None:
    await capped.hold(ST, "u1", ["A1", "A2", "A3", "A4"], address=HOME)
    await capped.hold(ST, "u2", ["B1", "B2"], address=HOME)

    again = await capped.hold(ST, "u2", ["B1", "B2"], address=HOME)

    assert (await capped.snapshot(ST, "u2")).mine == {"B1": again.expires_at,
                                                       "B2": again.expires_at}


async def test_release_frees_the_addresses_quota(capped: HoldEngine) -> None:
    await capped.hold(ST, "u1", ["A1", "A2", "A3", "A4"], address=HOME)
    await capped.hold(ST, "u2", ["B1", "B2"], address=HOME)
    await capped.release(ST, "u1", ["A1", "A2"])

    await capped.hold(ST, "u3", ["C1", "C2"], address=HOME)
    with pytest.raises(TooManySeats):
        await capped.hold(ST, "u3", ["C3"], address=HOME)


async def test_expiry_frees_the_addresses_quota(make_engine: EngineFactory) -> None:
    engine = make_engine(ttl_ms=300, max_seats=4, per_address=4)
    await engine.hold(ST, "u1", ["A1", "A2", "A3", "A4"], address=HOME)
    with pytest.raises(TooManySeats):
        await engine.hold(ST, "u2", ["B1"], address=HOME)
    await asyncio.sleep(0.4)

    await engine.hold(ST, "u2", ["B1", "B2", "B3", "B4"], address=HOME)


async def test_a_seat_whose_key_the_backstop_removed_does_not_count(
        capped: HoldEngine, redis: Redis) -> None:
    await capped.hold(ST, "u1", ["A1", "A2", "A3", "A4"], address=HOME)
    await capped.hold(ST, "u2", ["B1", "B2"], address=HOME)
    # As if the key's own TTL ran out with no script running (and the expiry
    # set lost the seat): nothing names the address of the hold that ended.
    await redis.hdel(redis_keys.held(ST), "A1")
    await redis.zrem(redis_keys.expiries(ST), "A1")

    await capped.hold(ST, "u3", ["C1"], address=HOME)


async def test_booking_and_cancel_free_the_addresses_quota(capped: HoldEngine) -> None:
    await capped.hold(ST, "u1", ["A1", "A2", "A3", "A4"], address=HOME)
    await capped.hold(ST, "u2", ["B1", "B2"], address=HOME)
    await capped.book(ST, "u1", "REF1", ["A1", "A2", "A3"])  # bought: no longer held
    await capped.free(ST, "u2", "", ["B1"], kind="release")  # a checkout given up

    await capped.hold(ST, "u3", ["C1", "C2", "C3", "C4"], address=HOME)
    with pytest.raises(TooManySeats):
        await capped.hold(ST, "u4", ["D1"], address=HOME)


async def test_a_seat_taken_over_from_another_address_counts_only_there(
        capped: HoldEngine) -> None:
    await capped.hold(ST, "u1", ["A1", "A2", "A3", "A4"], address=HOME)
    await capped.hold(ST, "u2", ["B1", "B2"], address=HOME)
    await capped.release(ST, "u2", ["B1", "B2"])
    await capped.hold(ST, "u9", ["B1", "B2"], address=OFFICE)  # the same seats, elsewhere

    await capped.hold(ST, "u3", ["C1", "C2"], address=HOME)
    with pytest.raises(TooManySeats):
        await capped.hold(ST, "u3", ["C3"], address=HOME)


async def test_extension_without_address_keeps_the_seats_counted(
        make_engine: EngineFactory) -> None:
    """Checkout extends a buyer's holds into the payment window without an
    address: the seats keep counting for the address they were taken from
    beyond their first deadline."""
    engine = make_engine(ttl_ms=300, max_seats=4, per_address=4)
    await engine.hold(ST, "u1", ["A1", "A2", "A3", "A4"], address=HOME)
    await engine.hold(ST, "u1", ["A1", "A2", "A3", "A4"], ttl_ms=5000)
    await asyncio.sleep(0.4)

    with pytest.raises(TooManySeats):
        await engine.hold(ST, "u2", ["B1"], address=HOME)


async def test_extension_of_seats_new_to_the_holder_counts_for_no_address(
        capped: HoldEngine) -> None:
    await capped.hold(ST, "u1", ["A1", "A2", "A3", "A4"], address=HOME)
    await capped.hold(ST, "u2", ["B1", "B2"], address=HOME)
    await capped.release(ST, "u2", ["B1", "B2"])
    await capped.hold(ST, "u5", ["B1", "B2"])  # no address: e.g. reconciliation's buyer

    await capped.hold(ST, "u3", ["C1", "C2"], address=HOME)


async def test_no_address_or_no_cap_keeps_no_books(make_engine: EngineFactory,
                                                   redis: Redis) -> None:
    uncapped = make_engine(max_seats=4, per_address=0)
    for holder in range(5):
        await uncapped.hold(ST, f"u{holder}", [f"R{holder}-{n}" for n in range(4)],
                            address=HOME)

    assert await redis.keys("addr*") == []


async def test_address_keys_share_the_showtimes_hash_slot() -> None:
    assert redis_keys.address_seats(ST) == "addr:{st:7}"
    assert redis_keys.seat_addresses(ST) == "addrof:{st:7}"


async def test_address_books_expire_with_the_holds(capped: HoldEngine, redis: Redis) -> None:
    await capped.hold(ST, "u1", ["A1"], address=HOME)

    for key in (redis_keys.address_seats(ST), redis_keys.seat_addresses(ST)):
        assert 0 < await redis.pttl(key) <= 60_000 + 1000
