"""HoldEngine: the only code that changes seat state, through Lua scripts.

Each verb is one script under ``lua/`` with the shared prelude prepended, run
with EVALSHA (reloaded after NOSCRIPT, e.g. after a Redis restart). Every
state change and its stream entry happen in the same atomic step, so the
state and the event log can never disagree. On a Redis Cluster every call
goes to the master of its showtime's hash slot (holds/cluster.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from seatserver import redis_keys
from seatserver.errors import (
    CompanionSeat,
    ExtendLimit,
    NotAdmitted,
    NothingHeld,
    NotHolder,
    SeatBlocked,
    SeatsUnavailable,
    TooManySeats,
    Unavailable,
    WouldOrphan,
)
from seatserver.holds.batcher import Batcher, batcher_for
from seatserver.holds.cluster import ClusterScriptBatcher
from seatserver.holds.geometry import Geometry, GeometryCache, SeatingPlan
from seatserver.latency import FINE_BOUNDS, Histogram
from seatserver.redis_client import REDIS_DOWN

MAX_CACHED_SHOWTIMES = 10_000
# Hash tags tried to find a mirror marker slot on every master (16 equal
# masters need about 54).
MAX_MARKER_PARTS = 10_000


# The libraries each script needs besides the prelude, in load order.
LIBRARIES = {"hold": ("_seating", "_take"), "best": ("_seating", "_take"),
             "orphans": ("_seating",)}
# Geometry writes one call may ask for before it gives up: two processes with
# different layouts cached (an edit not yet seen by one) overwrite each
# other's until the stale cache expires (catalog LAYOUT_TTL_S).
GEOMETRY_TRIES = 3


def script_text(name: str) -> str:
    """A verb's script as it is sent: the prelude, the libraries it uses, the verb."""
    lua = resources.files("seatserver.holds") / "lua"
    parts = ["_prelude", *LIBRARIES.get(name, ()), name]
    return "\n".join((lua / f"{part}.lua").read_text() for part in parts)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _batcher(redis: Redis | RedisCluster, timeout: float) -> Batcher:
    if isinstance(redis, RedisCluster):
        return ClusterScriptBatcher(redis, timeout=timeout)
    return batcher_for(redis, timeout=timeout)


@dataclass(frozen=True, slots=True)
class HoldResult:
    expires_at: int
    offset: str
    epoch: str = ""
    # Best available: the seats it held, and whether they sit together.
    seats: tuple[str, ...] = ()
    together: bool = True


@dataclass(frozen=True, slots=True)
class BestRequest:
    """What a best-available hold asks for (validated at the edge)."""

    count: int
    types: tuple[str, ...] = ()
    accessible: int = 0


@dataclass(frozen=True, slots=True)
class ExtendResult:
    """An extension: every hold's deadline now (ms, Redis clock), the soonest
    of them, when the holder's run of holds must end, and the stream entry."""

    deadlines: dict[str, int]
    expires_at: int
    limit_at: int
    offset: str
    epoch: str


@dataclass(frozen=True, slots=True)
class StreamMark:
    """A stream entry a change appended: its offset and the stream's epoch."""

    offset: str
    epoch: str


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """What the stream says of an offset: its current epoch, and whether the
    entry at the offset is still in it."""

    epoch: str
    present: bool


@dataclass(frozen=True, slots=True)
class SeatChange:
    """Seats a book or cancel script changed; offset '' when none changed."""

    offset: str
    seats: list[str]


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
    epoch: str = ""
    # Every held seat's deadline (ms, Redis clock), whoever holds it.
    expires: dict[str, int] = field(default_factory=dict)
    # Seats blocked off online sale (house seats, press, broken).
    blocked: list[str] = field(default_factory=list)


class HoldEngine:
    """Holds, releases, expiries and snapshots of one Redis (or cluster).

    A script call that Redis leaves unanswered for ``timeout_s`` fails as
    ``unavailable``. ``clock_offset_ms`` tracks Redis' clock minus ours, learnt from every
    script reply, so the expiry sweeper can wait for a deadline on Redis' clock.
    """

    def __init__(
        self,
        redis: Redis | RedisCluster,
        *,
        hold_ttl_ms: int,
        max_seats: int,
        stream_maxlen: int,
        backstop_ms: int,
        timeout_s: float = 5.0,
        longest_hold_ms: int = 0,
        max_seats_per_address: int = 0,
        hold_max_ms: int | None = None,
    ) -> None:
        self._redis = redis
        self._ttl = hold_ttl_ms
        # How long a run of holds may last, extensions included (None: twice
        # the hold time, SEATSERVER_HOLD_MAX's default).
        self._hold_max = 2 * hold_ttl_ms if hold_max_ms is None else hold_max_ms
        if self._hold_max < hold_ttl_ms:
            raise ValueError("hold_max_ms must be at least hold_ttl_ms")
        # The holder index must outlive any hold a holder made since it was
        # last noted: a hold made up to one hold time after the note (see
        # renote_after_s), then extended up to the run's limit or to the
        # longest hold (checkout's payment window).
        self._index_ttl = (hold_ttl_ms + max(self._hold_max, longest_hold_ms)
                           + backstop_ms)
        self._max_seats = max_seats
        # 0: no per-address cap, and no per-address bookkeeping either.
        self._max_per_address = max_seats_per_address
        self._maxlen = stream_maxlen
        self._backstop = backstop_ms
        self.clock_offset_ms = 0.0
        self._hold = redis.register_script(script_text("hold"))
        self._release = redis.register_script(script_text("release"))
        self._expire = redis.register_script(script_text("expire"))
        self._snapshot = redis.register_script(script_text("snapshot"))
        self._book = redis.register_script(script_text("book"))
        self._cancel = redis.register_script(script_text("cancel"))
        self._reserve = redis.register_script(script_text("reserve"))
        self._booked = redis.register_script(script_text("booked"))
        self._move = redis.register_script(script_text("move"))
        self._position = redis.register_script(script_text("position"))
        self._lapsed = redis.register_script(script_text("lapsed"))
        self._extend = redis.register_script(script_text("extend"))
        self._best = redis.register_script(script_text("best"))
        self._orphans = redis.register_script(script_text("orphans"))
        self._geometry = redis.register_script(script_text("geometry"))
        self._block = redis.register_script(script_text("block"))
        self._unblock = redis.register_script(script_text("unblock"))
        self.geometries = GeometryCache()
        self._keys: dict[int, list[str]] = {}
        self.redis_errors = 0  # script calls that found Redis unreachable
        # From a script call to its reply: the batch's wait for the loop, the
        # round trip and Redis' own time (seatserver_redis_script_seconds).
        self.script_latency = Histogram(FINE_BOUNDS)
        self._batcher = _batcher(redis, timeout_s)

    async def close(self) -> None:
        await self._batcher.close()

    @property
    def max_seats(self) -> int:
        return self._max_seats

    @property
    def renote_after_s(self) -> float:
        """How long a ``note_holding`` covers new holds before it must be renewed."""
        return self._ttl / 1000

    def _showtime_keys(self, showtime: int) -> list[str]:
        # Built once per showtime: at peak, building the same key names for
        # every call was ~6% of the process.
        keys = self._keys.get(showtime)
        if keys is None:
            if len(self._keys) >= MAX_CACHED_SHOWTIMES:
                self._keys.clear()
            keys = self._keys[showtime] = redis_keys.showtime_keys(showtime)
        return keys

    async def _run(self, script: Any, showtime: int, extra: Sequence[Any]) -> list[Any]:
        keys = self._showtime_keys(showtime)
        began = time.perf_counter()
        try:
            reply: list[Any] = await self._batcher.call(script, keys, [self._maxlen, *extra])
        except REDIS_DOWN as exc:
            self.redis_errors += 1
            raise Unavailable("seat service is unavailable, try again shortly") from exc
        self.script_latency.observe(time.perf_counter() - began)
        self.clock_offset_ms = int(reply[1]) - time.time() * 1000
        return reply

    async def _seating(self, script: Any, showtime: int, plan: SeatingPlan,
                       extra: Callable[[str], Sequence[Any]]) -> list[Any]:
        """Run a script that reads the showtime's geometry (``extra(version)``
        its arguments), writing the geometry first when Redis has another."""
        geometry = self.geometries.of(showtime, plan)
        for _ in range(GEOMETRY_TRIES):
            reply = await self._run(script, showtime, extra(geometry.version))
            if _text(reply[0]) != "geometry":
                return reply
            await self.write_geometry(showtime, geometry)
        raise Unavailable("the seat map of this showtime is changing; try again shortly")

    async def write_geometry(self, showtime: int, geometry: Geometry) -> None:
        """Store the showtime's geometry in Redis, replacing any other version."""
        pairs = [part for item in geometry.fields.items() for part in item]
        await self._run(self._geometry, showtime, [geometry.version, *pairs])

    async def hold(self, showtime: int, holder: str, seats: Sequence[str],
                   ttl_ms: int | None = None, *, address: str = "",
                   plan: SeatingPlan | None = None) -> HoldResult:
        """Hold all seats or none; ``ttl_ms`` overrides the hold time (checkout
        extends a buyer's holds to cover the payment window this way).

        ``address`` is the client's (see ``accounts.proxies.quota_subject``):
        the seats held from it in the showtime, by all its holders together,
        are capped. A hold without one (checkout's extension) is not capped
        and keeps each seat counted for the address it was taken from.

        ``plan``, the showtime's layout and rules, makes the hold obey them:
        companion seats (``companion_seat``) and the orphan rule
        (``would_orphan``), checked in the same step. Without it (checkout
        extending holds it has, tests of the bare engine) neither is checked.
        """
        ttl = self._ttl if ttl_ms is None else ttl_ms
        # A hold time of one's own (checkout's) is not bounded by the run's limit.
        hold_max = self._hold_max if ttl_ms is None else 0
        # The waiting room gates the buyer's own holds; checkout's extension
        # of seats the buyer holds already (ttl_ms) was gated when they were taken.
        gated = "1" if ttl_ms is None else "0"
        cap = self._max_per_address

        def args(version: str) -> list[Any]:
            return [holder, ttl, self._max_seats, self._backstop, cap,
                    address if cap else "", hold_max, version, gated, *seats]

        if plan is not None and self.geometries.of(showtime, plan).checks:
            reply = await self._seating(self._hold, showtime, plan, args)
        else:
            reply = await self._run(self._hold, showtime, args(""))
        self._refusal(reply, seats)
        return HoldResult(expires_at=int(reply[2]), offset=_text(reply[3]),
                          epoch=_text(reply[4]))


    async def extend(self, showtime: int, holder: str) -> ExtendResult:
        """Move each of the holder's holds in the showtime one hold time later,
        up to the end of its run of holds (``hold_max_ms`` from the first hold
        it made while holding nothing); see holds/lua/extend.lua."""
        reply = await self._run(self._extend, showtime,
                                [holder, self._ttl, self._hold_max, self._backstop])
        status = _text(reply[0])
        if status == "nothing_held":
            raise NothingHeld("you hold no seats in this showtime")
        if status == "extend_limit":
            limit = int(reply[2])
            raise ExtendLimit("your seats cannot be held any longer: holds end at most "
                              f"{self._hold_max / 1000:g} seconds after your first one",
                              limit_at=limit)
        flat = reply[2]
        deadlines = {_text(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}
        return ExtendResult(deadlines=deadlines, expires_at=min(deadlines.values()),
                            limit_at=int(reply[3]), offset=_text(reply[4]),
                            epoch=_text(reply[5]))

    async def best(self, showtime: int, holder: str, want: BestRequest, plan: SeatingPlan,
                   *, address: str = "") -> HoldResult:
        """Pick the best free seats for a party and hold them in one step
        (holds/lua/best.lua says which); ``seats_unavailable`` when none fit."""
        cap = self._max_per_address

        def args(version: str) -> list[Any]:
            return [holder, self._ttl, self._max_seats, self._backstop, cap,
                    address if cap else "", self._hold_max, version, "1", want.count,
                    want.accessible, *want.types]

        reply = await self._seating(self._best, showtime, plan, args)
        self._refusal(reply, ())
        return HoldResult(expires_at=int(reply[2]), offset=_text(reply[3]),
                          epoch=_text(reply[4]), seats=tuple(_text(s) for s in reply[5]),
                          together=bool(int(reply[6])))

    async def orphans(self, showtime: int, seats: Sequence[str], plan: SeatingPlan
                      ) -> list[str]:
        """The seats that ``seats`` (a holder's basket) leave alone by the
        orphan rule now; none when the showtime's rule is off."""
        if not plan.no_orphans or not seats:
            return []
        reply = await self._seating(self._orphans, showtime, plan,
                                    lambda version: [version, *seats])
        return [_text(s) for s in reply[2]]

    def _refusal(self, reply: list[Any], seats: Sequence[str]) -> None:
        """Raise the coded error of a refused hold (hold.lua's, best.lua's)."""
        status = _text(reply[0])
        if status == "ok":
            return
        named = [_text(s) for s in reply[2]] if len(reply) > 2 else []
        if status == "seat_blocked":
            raise SeatBlocked(f"not for sale online: {', '.join(named)}", named)
        if status == "seats_unavailable" and not named:
            raise SeatsUnavailable("no free seats fit the request")
        if status == "seats_unavailable":
            raise SeatsUnavailable(f"not available: {', '.join(named)}", named)
        if status == "too_many_seats" and len(reply) > 3:
            raise TooManySeats(f"at most {self._max_per_address} seats per showtime may be "
                               "held from one address (network) at a time", seats)
        if status == "too_many_seats":
            raise TooManySeats(f"at most {self._max_seats} seats per showtime", seats)
        if status == "companion_seat":
            raise CompanionSeat(
                f"companion seats go with their wheelchair space: {', '.join(named)}", named)
        if status == "not_admitted":
            opens_at = int(reply[3]) if len(reply) > 3 else 0
            if opens_at:
                raise NotAdmitted("this showtime is not on sale yet", opens_at=opens_at)
            raise NotAdmitted("wait for your turn: holds in this showtime need an admission "
                              "from its waiting room")
        if status == "would_orphan":
            raise WouldOrphan(f"that would leave {', '.join(named)} alone; choose seats that "
                              "leave no single free seat", named)
        raise Unavailable(f"unexpected answer from the seat service: {status}")

    async def release(self, showtime: int, holder: str, seats: Sequence[str]) -> StreamMark:
        reply = await self._run(self._release, showtime, [holder, *seats])
        if _text(reply[0]) == "not_holder":
            refused = [_text(s) for s in reply[2]]
            raise NotHolder(f"not held by you: {', '.join(refused)}", refused)
        return StreamMark(offset=_text(reply[2]), epoch=_text(reply[3]))

    async def position(self, showtime: int, offset: str) -> ResumePoint:
        """The stream's epoch and whether ``offset`` (a valid stream id) is in it,
        read in one step: what resuming from an offset must check."""
        reply = await self._run(self._position, showtime, [offset])
        return ResumePoint(epoch=_text(reply[2]), present=bool(int(reply[3])))

    async def book(self, showtime: int, holder: str, reference: str, seats: Sequence[str],
                   *, force: bool = False) -> SeatChange:
        """Mark seats booked for a booking and append ``book``; idempotent.

        Without ``force`` every seat must be held by ``holder`` (or already
        booked by this booking). ``force`` is for bookings PostgreSQL has
        already given the seats to: it drops anyone's hold on them.
        """
        reply = await self._run(self._book, showtime, [
            holder, reference, "force" if force else "strict", *seats])
        if _text(reply[0]) == "seats_unavailable":
            refused = [_text(s) for s in reply[2]]
            raise SeatsUnavailable(f"not available: {', '.join(refused)}", refused)
        return SeatChange(offset=_text(reply[2]), seats=[_text(s) for s in reply[3]])

    async def free(self, showtime: int, holder: str, reference: str, seats: Sequence[str],
                   *, kind: str) -> SeatChange:
        """Free a booking's seats, booked by ``reference`` or held by ``holder``,
        appending ``kind`` (``cancel`` or ``release``); idempotent. A reference
        of '' frees booked seats whoever booked them (reconciliation)."""
        reply = await self._run(self._cancel, showtime, [
            holder, reference, kind, *seats])
        return SeatChange(offset=_text(reply[2]), seats=[_text(s) for s in reply[3]])

    async def reserve(self, showtime: int, holder: str, seats: Sequence[str],
                      deadline_ms: int) -> SeatChange:
        """Hold seats for a pending booking's buyer until ``deadline_ms``
        (epoch ms), taking them from anyone else who holds them and leaving
        booked ones alone; idempotent. For reconciliation: PostgreSQL already
        gave the seats to the booking."""
        reply = await self._run(self._reserve, showtime,
                                [holder, deadline_ms, self._backstop, *seats])
        return SeatChange(offset=_text(reply[2]), seats=[_text(s) for s in reply[3]])

    async def move(self, showtime: int, from_holder: str, to_holder: str) -> list[str]:
        """Give every seat ``from_holder`` holds in the showtime to ``to_holder``,
        deadlines kept, no event appended; returns the seats moved."""
        reply = await self._run(self._move, showtime, [from_holder, to_holder])
        return [_text(s) for s in reply[2]]

    async def note_holding(self, holder: str, showtime: int) -> None:
        """Record that ``holder`` holds (or is about to hold) seats in ``showtime``.

        Called before a holder's first hold in a showtime (and again every
        ``renote_after_s``), so ``showtimes_of`` always names a superset of
        the showtimes where the holder has live holds.
        """
        key = redis_keys.holder_showtimes(holder)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.sadd(key, showtime)
                pipe.pexpire(key, self._index_ttl)
                await pipe.execute()
        except REDIS_DOWN as exc:
            raise Unavailable("seat service is unavailable, try again shortly") from exc

    async def showtimes_of(self, holder: str) -> list[int]:
        """The showtimes where ``holder`` may hold seats (see ``note_holding``)."""
        try:
            members = await self._redis.smembers(redis_keys.holder_showtimes(holder))
        except REDIS_DOWN as exc:
            raise Unavailable("seat service is unavailable, try again shortly") from exc
        return sorted(int(m) for m in members)

    async def booked(self, showtime: int) -> dict[str, str]:
        """The showtime's booked seats as Redis has them (for reconciliation),
        each with the reference of the booking that bought it ('' if unrecorded)."""
        reply = await self._run(self._booked, showtime, [])
        flat = reply[2]
        return {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat), 2)}

    async def lapsed(self, showtime: int, holder: str) -> set[str]:
        """Seats whose hold by ``holder`` expired lately and that the holder
        has not held since: what tells "your hold expired" from "you held
        nothing"."""
        reply = await self._run(self._lapsed, showtime, [holder])
        return {_text(s) for s in reply[2]}

    async def mark_mirrored(self, token: str) -> bool:
        """Claim the mirror marker; False when it is there already (Redis has
        the mirror, or another instance is rebuilding it). On a cluster: True
        when any master lacked its marker (that master lost its data)."""
        try:
            claimed = False
            for key in await self._mirror_markers():
                claimed |= bool(await self._redis.set(key, token, nx=True))
        except REDIS_DOWN as exc:
            raise Unavailable("seat service is unavailable, try again shortly") from exc
        return claimed

    async def unmark_mirrored(self, token: str) -> None:
        """Drop the markers we set (a rebuild failed), so that it is tried again."""
        try:
            for key in await self._mirror_markers():
                if await self._redis.get(key) == token.encode():
                    await self._redis.delete(key)
        except REDIS_DOWN as exc:
            raise Unavailable("seat service is unavailable, try again shortly") from exc

    async def _mirror_markers(self) -> list[str]:
        """The mirror marker, or on a cluster one in a slot of each master."""
        redis = self._redis
        if not isinstance(redis, RedisCluster):
            return [redis_keys.mirror_marker()]
        await redis.initialize()
        masters = {nodes[0].name for nodes in redis.nodes_manager.slots_cache.values() if nodes}
        markers: dict[str, str] = {}
        part = 0
        while len(markers) < len(masters) and part < MAX_MARKER_PARTS:
            key = redis_keys.mirror_marker(part)
            node = redis.get_node_from_key(key)
            if node is not None and node.name in masters:
                markers.setdefault(node.name, key)
            part += 1
        return list(markers.values())

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
        every = reply[7]
        expires = {_text(every[i]): int(float(every[i + 1])) for i in range(0, len(every), 2)}
        return Snapshot(
            offset=_text(reply[2]),
            held=[_text(s) for s in reply[3]],
            booked=[_text(s) for s in reply[4]],
            mine=mine,
            epoch=_text(reply[6]),
            expires=expires,
            blocked=[_text(s) for s in reply[8]],
        )

    async def block(self, showtime: int, seats: Sequence[str], *,
                    force: bool = False) -> SeatChange:
        """Keep seats off online sale, appending ``block``; idempotent.

        Without ``force`` a held or booked seat refuses the whole request
        (``seats_unavailable`` naming them). ``force`` is reconciliation's:
        PostgreSQL has the seats blocked, so holds on them are dropped.
        """
        if not seats:
            return SeatChange(offset="", seats=[])
        reply = await self._run(self._block, showtime, ["force" if force else "strict", *seats])
        if _text(reply[0]) == "seats_unavailable":
            refused = [_text(s) for s in reply[2]]
            raise SeatsUnavailable(f"held or sold, so they cannot be blocked: "
                                   f"{', '.join(refused)}", refused)
        return SeatChange(offset=_text(reply[2]), seats=[_text(s) for s in reply[3]])

    async def unblock(self, showtime: int, seats: Sequence[str]) -> SeatChange:
        """Put blocked seats back on online sale, appending ``unblock``; idempotent."""
        if not seats:
            return SeatChange(offset="", seats=[])
        reply = await self._run(self._unblock, showtime, list(seats))
        return SeatChange(offset=_text(reply[2]), seats=[_text(s) for s in reply[3]])
