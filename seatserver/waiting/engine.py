"""QueueEngine: the waiting room in Redis, changed only by its Lua scripts.

Each verb is one script under ``lua/`` with ``_queue.lua`` prepended, all on
the keys of the showtime's hash slot (``redis_keys.queue_keys``); the hold
scripts read two of them (the sale hash and the admissions) in their own
step, which is what makes admission binding on every instance.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from seatserver import redis_keys
from seatserver.errors import Unavailable
from seatserver.redis_client import REDIS_DOWN
from seatserver.waiting.models import SaleSettings

# How long a buyer may be away (no socket) and keep its place in the queue,
# or an admission it is not using: long enough to reload a page or ride out
# a reconnect, short enough that those who closed the tab stop taking turns.
PRESENCE_GRACE_MS = 60_000

State = Literal["open", "admitted", "waiting", "before_sale", "none"]


def _load(name: str) -> str:
    lua = resources.files("seatserver.waiting") / "lua"
    return "\n".join((lua / f"{part}.lua").read_text() for part in ("_queue", name))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _ms(settings: SaleSettings) -> int:
    at = settings.on_sale_at
    return 0 if at is None else int(at.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Place:
    """Where a holder is: ``admitted`` (``value``: when its admission ends,
    ms), ``waiting`` (``value``: its position, 1 = next), ``before_sale``
    (in the pre-queue, no position until the shuffle), ``none`` (not in the
    room), or ``open`` (no waiting room). ``waiting`` (the count): every
    buyer still waiting, when the answer carries it."""

    state: State
    value: int = 0
    waiting: int = 0


@dataclass(frozen=True, slots=True)
class RoomStatus:
    """The room at one moment: its settings as Redis has them, admissions
    ever made, live admissions, and buyers waiting; ``now`` is Redis' clock."""

    now: int
    on: bool
    opens_at: int
    rate: int
    cap: int
    admitted: int
    active: int
    waiting: int


@dataclass(frozen=True, slots=True)
class Step:
    """One admitting step: ``not_leader``, ``idle``, ``shuffle`` (``holders``:
    the pre-queue to shuffle) or ``ok`` (``holders``: those admitted now)."""

    state: str
    now: int
    holders: tuple[str, ...] = ()
    active: int = 0
    waiting: int = 0
    # Buyers whose turn came but who had left (unseen for the grace): dropped.
    left: int = 0


class QueueEngine:
    """The waiting rooms of one Redis (or cluster)."""

    def __init__(self, redis: Redis | RedisCluster) -> None:
        self._redis = redis
        self._scripts = {name: redis.register_script(_load(name)) for name in (
            "configure", "join", "status", "lead", "resign", "admit", "shuffle", "leave")}

    async def _run(self, name: str, showtime: int, args: Sequence[Any]) -> list[Any]:
        try:
            reply: list[Any] = await self._scripts[name](
                keys=redis_keys.queue_keys(showtime), args=list(args))
        except REDIS_DOWN as exc:
            raise Unavailable("the waiting room is unavailable, try again shortly") from exc
        return reply

    async def configure(self, settings: SaleSettings, keep_until_ms: int,
                        seen: int | None = None) -> bool:
        """Make Redis obey ``settings`` (the queue's state is kept). ``seen``:
        not an admin's change but a re-read of PostgreSQL, begun when Redis
        had counted ``seen`` changes (``changes``); it is written only if no
        change came since, which would be newer than what it read. Whether
        the settings were written."""
        reply = await self._run("configure", settings.showtime, [
            "1" if settings.waiting_room else "0", _ms(settings), settings.admission_rate,
            settings.active_cap, settings.admission_ttl_s * 1000, keep_until_ms,
            "" if seen is None else seen])
        return _text(reply[0]) == "ok"

    async def changes(self, showtimes: Iterable[int]) -> dict[int, int]:
        """How many admin changes Redis has written per showtime (0: none
        since its keys were made), to be read before PostgreSQL is."""
        wanted = sorted(set(showtimes))
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for showtime in wanted:
                    pipe.hget(redis_keys.sale(showtime), "changes")
                counts = await pipe.execute()
        except REDIS_DOWN as exc:
            raise Unavailable("the waiting room is unavailable, try again shortly") from exc
        return {s: int(c or 0) for s, c in zip(wanted, counts, strict=True)}

    async def join(self, showtime: int, holder: str) -> Place:
        """Queue ``holder`` (at the back, or in the pre-queue before the
        opening) unless it is there already or admitted; where it is now."""
        reply = await self._run("join", showtime, [holder])
        state = _text(reply[0])
        if state == "open":
            return Place("open")
        return Place(_state(state), int(reply[2]), int(reply[3]))

    async def status(self, showtime: int, holders: Sequence[str]
                     ) -> tuple[RoomStatus, list[Place]]:
        """The room, and where each of ``holders`` is in it, in one step."""
        reply = await self._run("status", showtime, holders)
        on, opens_at, rate, cap, admitted, active, waiting = (int(v) for v in reply[2])
        flat = reply[3]
        places = [Place(_state(_text(flat[i])), int(flat[i + 1]), waiting)
                  for i in range(0, len(flat), 2)]
        return RoomStatus(int(reply[1]), bool(on), opens_at, rate, cap, admitted, active,
                          waiting), places

    async def lead(self, showtime: int, token: str, lease_ms: int) -> str:
        """Keep (or take) the right to admit; the fencing token, or '' when
        another instance has it."""
        reply = await self._run("lead", showtime, [token, lease_ms])
        return _text(reply[2]) if _text(reply[0]) == "leader" else ""

    async def resign(self, showtime: int, token: str) -> bool:
        reply = await self._run("resign", showtime, [token])
        return bool(int(reply[2]))

    async def admit(self, showtime: int, token: str, lease_ms: int) -> Step:
        reply = await self._run("admit", showtime, [token, lease_ms, PRESENCE_GRACE_MS])
        state, now = _text(reply[0]), int(reply[1])
        if state == "shuffle":
            return Step(state, now, tuple(_text(h) for h in reply[2]))
        if state == "ok":
            return Step(state, now, tuple(_text(h) for h in reply[2]), int(reply[3]),
                        int(reply[4]), int(reply[5]))
        return Step(state, now)

    async def leave(self, showtime: int, holder: str) -> int:
        """``holder``'s last socket here closed: an admission it does not use
        (no seats held) ends within the grace. When it ends now (ms; 0: none)."""
        reply = await self._run("leave", showtime, [holder, PRESENCE_GRACE_MS])
        return int(reply[2])

    async def shuffle(self, showtime: int, token: str, order: Sequence[str]) -> str:
        """Open sales with the pre-queue in ``order`` (every member once):
        ``ok``, ``not_leader`` or ``stale`` (read it again)."""
        reply = await self._run("shuffle", showtime, [token, *order])
        return _text(reply[0])


_STATES: dict[str, State] = {"admitted": "admitted", "waiting": "waiting",
                             "before_sale": "before_sale", "none": "none"}


def _state(text: str) -> State:
    return _STATES[text]
