"""HoldEngine: the only code that changes seat state, through Lua scripts.

Each verb is one script under ``lua/`` with the shared prelude prepended, run
with EVALSHA (redis-py reloads it after NOSCRIPT, e.g. after a Redis restart).
Every state change and its stream entry happen in the same atomic step, so
the state and the event log can never disagree.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from seatserver import redis_keys
from seatserver.errors import NotHolder, SeatsUnavailable, TooManySeats, Unavailable
from seatserver.holds.batcher import ScriptBatcher

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)


def _load(name: str) -> str:
    lua = resources.files("seatserver.holds") / "lua"
    return (lua / "_prelude.lua").read_text() + "\n" + (lua / f"{name}.lua").read_text()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True, slots=True)
class HoldResult:
    expires_at: int
    offset: str


@dataclass(frozen=True, slots=True)
class ExpireResult:
    now: int
    next_deadline: int | None
    expired: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    offset: str
    held: list[str]
    booked: list[str]
    mine: dict[str, int]


class HoldEngine:
    """Holds, releases, expiries and snapshots of one Redis (or cluster).

    ``clock_offset_ms`` tracks Redis' clock minus ours, learnt from every
    script reply, so the expiry sweeper can wait for a deadline on Redis' clock.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        hold_ttl_ms: int,
        max_seats: int,
        stream_maxlen: int,
        backstop_ms: int,
    ) -> None:
        self._redis = redis
        self._ttl = hold_ttl_ms
        self._max_seats = max_seats
        self._maxlen = stream_maxlen
        self._backstop = backstop_ms
        self.clock_offset_ms = 0.0
        self._hold = redis.register_script(_load("hold"))
        self._release = redis.register_script(_load("release"))
        self._expire = redis.register_script(_load("expire"))
        self._snapshot = redis.register_script(_load("snapshot"))
        self._batcher = ScriptBatcher(redis)

    async def close(self) -> None:
        await self._batcher.close()

    @property
    def max_seats(self) -> int:
        return self._max_seats

    def _common(self, showtime: int) -> tuple[list[str], list[Any]]:
        keys = [
            redis_keys.expiries(showtime),
            redis_keys.booked(showtime),
            redis_keys.events(showtime),
        ]
        argv: list[Any] = [
            redis_keys.seat_prefix(showtime),
            redis_keys.mine_prefix(showtime),
            self._maxlen,
        ]
        return keys, argv

    async def _run(self, script: Any, showtime: int, extra: Sequence[Any]) -> list[Any]:
        keys, argv = self._common(showtime)
        try:
            reply: list[Any] = await self._batcher.call(script, keys, [*argv, *extra])
        except REDIS_DOWN as exc:
            raise Unavailable("seat service is unavailable, try again shortly") from exc
        self.clock_offset_ms = int(reply[1]) - time.time() * 1000
        return reply

    async def hold(self, showtime: int, holder: str, seats: Sequence[str]) -> HoldResult:
        reply = await self._run(
            self._hold, showtime, [holder, self._ttl, self._max_seats, self._backstop, *seats]
        )
        status = _text(reply[0])
        if status == "seats_unavailable":
            refused = [_text(s) for s in reply[2]]
            raise SeatsUnavailable(f"not available: {', '.join(refused)}", refused)
        if status == "too_many_seats":
            raise TooManySeats(f"at most {self._max_seats} seats per showtime", seats)
        return HoldResult(expires_at=int(reply[2]), offset=_text(reply[3]))

    async def release(self, showtime: int, holder: str, seats: Sequence[str]) -> str:
        reply = await self._run(self._release, showtime, [holder, *seats])
        if _text(reply[0]) == "not_holder":
            refused = [_text(s) for s in reply[2]]
            raise NotHolder(f"not held by you: {', '.join(refused)}", refused)
        return _text(reply[2])

    async def expire(self, showtime: int) -> ExpireResult:
        reply = await self._run(self._expire, showtime, [])
        deadline = int(reply[2])
        return ExpireResult(
            now=int(reply[1]),
            next_deadline=None if deadline < 0 else deadline,
            expired=int(reply[3]),
        )

    async def snapshot(self, showtime: int, holder: str = "") -> Snapshot:
        reply = await self._run(self._snapshot, showtime, [holder])
        flat = reply[5]
        mine = {_text(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}
        return Snapshot(
            offset=_text(reply[2]),
            held=[_text(s) for s in reply[3]],
            booked=[_text(s) for s in reply[4]],
            mine=mine,
        )
