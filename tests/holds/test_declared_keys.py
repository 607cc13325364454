"""Every key a hold script touches is one it declared in KEYS.

Redis' rule for scripts; a single Redis does not enforce it, but a cluster
(for slots), proxies and compatible servers do. So each script is run here
with a guard in front of it that refuses any command naming an undeclared
key, through every verb and branch of the engine, on the real Redis and on
fakeredis.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from seatserver import redis_keys
from seatserver.errors import CompanionSeat, ExtendLimit, NothingHeld, TooManySeats, WouldOrphan
from seatserver.holds import BestRequest
from seatserver.holds import engine as engine_module
from tests.holds.conftest import EngineFactory
from tests.holds.plans import plan

ST = 7
HOME = "198.51.100.7"

# A local `redis` shadows the global for the rest of the chunk (prelude and
# verb are one chunk): every command but the keyless ones must name, as its
# first argument, a key of KEYS.
GUARD = """
local declared = {}
for _, key in ipairs(KEYS) do declared[key] = true end
local keyless = {TIME = true, INFO = true}
local function guarded(call)
  return function(command, ...)
    local key = ...
    if not keyless[string.upper(command)] and not declared[key] then
      error('undeclared key ' .. tostring(key) .. ' in ' .. command)
    end
    return call(command, ...)
  end
end
local redis = {call = guarded(redis.call), pcall = guarded(redis.pcall)}
"""


@pytest.fixture
def guarded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Engines made after this load every script behind the guard."""
    load = engine_module.script_text
    monkeypatch.setattr(engine_module, "script_text", lambda name: GUARD + load(name))


@pytest.mark.usefixtures("guarded")
async def test_every_verb_touches_only_declared_keys(make_engine: EngineFactory,
                                                     redis: Redis) -> None:
    engine = make_engine(max_seats=4, per_address=2)
    brief = make_engine(ttl_ms=100, max_seats=4, per_address=2)

    await engine.hold(ST, "u1", ["A1", "A2"], address=HOME)
    with pytest.raises(TooManySeats):  # the cap's refusal path, with its clean-up
        await engine.hold(ST, "u2", ["B1"], address=HOME)
    await engine.hold(ST, "u1", ["A1"], ttl_ms=120_000)  # extension without address
    await engine.hold(ST, "u3", ["C1"])  # a seat new to its holder, no address
    await engine.extend(ST, "u3")
    with pytest.raises(ExtendLimit):  # at its run's limit
        await engine.extend(ST, "u3")
    with pytest.raises(NothingHeld):
        await engine.extend(ST, "u9")
    await engine.release(ST, "u1", ["A2"])
    await engine.snapshot(ST, "u1")
    mark = await engine.snapshot(ST)
    await engine.position(ST, mark.offset)
    await engine.book(ST, "u1", "REF1", ["A1"])
    await engine.booked(ST)
    await engine.free(ST, "", "REF1", ["A1"], kind="cancel")
    await engine.hold(ST, "u1", ["A3"], address=HOME)
    await engine.free(ST, "u1", "", ["A3"], kind="release")
    await engine.reserve(ST, "u4", ["C1", "C2"], int(time.time() * 1000) + 60_000)
    await engine.book(ST, "", "REF2", ["C2"], force=True)
    await engine.move(ST, "u4", "u5")
    drawn = plan("E oooooo\nF wcoooo")  # geometry, seating checks, best, re-check
    with pytest.raises(WouldOrphan):
        await engine.hold(ST, "u8", ["E2"], plan=drawn)
    with pytest.raises(CompanionSeat):
        await engine.hold(ST, "u8", ["F2"], plan=drawn)
    held = await engine.best(ST, "u8", BestRequest(count=2, accessible=1), drawn)
    assert await engine.orphans(ST, list(held.seats), drawn) == []

    await brief.hold(ST, "u6", ["D1", "D2"], address=HOME)
    await asyncio.sleep(0.15)
    assert (await brief.expire(ST)).expired == 2
    assert await brief.lapsed(ST, "u6") == {"D1", "D2"}
    await brief.move(ST, "u6", "u7")
    assert await brief.lapsed(ST, "u7") == {"D1", "D2"}

    # And nothing was written anywhere else.
    written = {key.decode() for key in await redis.keys("*")}
    assert written <= set(redis_keys.showtime_keys(ST))
    assert {redis_keys.held(ST), redis_keys.mine(ST), redis_keys.lapsed(ST)} <= written


async def test_the_guard_refuses_an_undeclared_key(redis: Redis) -> None:
    """The guard itself: a script naming a key it did not declare fails."""
    script = redis.register_script(GUARD + "return redis.call('GET', 'seat:{st:7}:A1')")
    with pytest.raises(Exception, match="undeclared key"):
        await script(keys=[redis_keys.held(ST)], args=[])


def test_showtime_keys_share_one_hash_slot() -> None:
    assert all("{st:7}" in key for key in redis_keys.showtime_keys(ST))
    assert len(set(redis_keys.showtime_keys(ST))) == len(redis_keys.showtime_keys(ST))
