"""Client -> server messages of protocol v1, validated at the edge.

``parse`` turns a decoded frame into one typed message or raises
``BadMessage``; nothing past it handles raw dicts. Server frames are built by
the small functions at the bottom, so their shapes live in one place.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from seatserver.errors import BadMessage, CodedError

# docs/protocol.md: a string or an integer of at most 64 characters. Bounded in
# the model, so an oversized one is refused before anything echoes it.
MAX_REF_CHARS = 64
Ref = (Annotated[StrictStr, Field(max_length=MAX_REF_CHARS)]
       | Annotated[StrictInt, Field(gt=-(10**63), lt=10**64)])
ShowtimeId = Annotated[StrictInt, Field(gt=0, lt=2**63)]
SeatId = Annotated[StrictStr, Field(min_length=1, max_length=16)]
# A generous cap that keeps a hostile list cheap to reject; the real per-holder
# limit (SEATSERVER_MAX_SEATS) answers `too_many_seats`.
SeatList = Annotated[list[SeatId], Field(min_length=1, max_length=100)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    ref: Ref | None = None


class Subscribe(_Message):
    op: Literal["subscribe"]
    showtime: ShowtimeId
    since: Annotated[StrictStr, Field(max_length=64)] | None = None
    # The epoch of ``since`` (as snapshots, updates and acks name it); a
    # ``since`` without one is checked as before epochs existed.
    epoch: Annotated[StrictStr, Field(max_length=64)] | None = None
    view: Literal["seats", "summary"] = "seats"
    # False: watch the seats without joining the showtime's waiting room (a
    # lobby board on a guest session); such a watcher cannot hold either.
    queue: StrictBool = True


class Unsubscribe(_Message):
    op: Literal["unsubscribe"]
    showtime: ShowtimeId


# Best available: how many seats (the per-holder limit answers above it),
# which seat types (a type code, as layouts spell them), how many of them
# wheelchair spaces.
MAX_BEST_SEATS = 100
SeatType = Annotated[StrictStr, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class Best(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    count: Annotated[StrictInt, Field(ge=1, le=MAX_BEST_SEATS)]
    types: Annotated[list[SeatType], Field(max_length=16)] = []
    accessible: Annotated[StrictInt, Field(ge=0, le=MAX_BEST_SEATS)] = 0


class Hold(_Message):
    """Exactly one of ``seats`` (these seats) and ``best`` (the server picks)."""

    op: Literal["hold"]
    showtime: ShowtimeId
    seats: SeatList | None = None
    best: Best | None = None


class Release(_Message):
    op: Literal["release"]
    showtime: ShowtimeId
    seats: SeatList


class Extend(_Message):
    """Move all the sender's holds in the showtime one hold time later (up to
    SEATSERVER_HOLD_MAX from the first of them); it names no seats."""

    op: Literal["extend"]
    showtime: ShowtimeId


class Queue(_Message):
    """Wait in the showtime's waiting room (without its seat updates): the
    reply says where you are, ``queue`` frames follow as it moves, then
    ``admitted``. ``subscribe`` (view ``seats``) joins it the same way."""

    op: Literal["queue"]
    showtime: ShowtimeId


class Ping(_Message):
    op: Literal["ping"]


ClientMessage = Annotated[
    Subscribe | Unsubscribe | Hold | Release | Extend | Queue | Ping,
    Field(discriminator="op")
]
_adapter: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)
# The ops, read from the union's ``op`` literals: a message added to the union
# is known to ``parse`` without a second list to keep in step.
OPS: tuple[str, ...] = tuple(
    op for kind in get_args(get_args(ClientMessage)[0])
    for op in get_args(kind.model_fields["op"].annotation))


def ref_of(raw: Any) -> Ref | None:
    """The ``ref`` of a frame, if it has a usable one, so even errors echo it."""
    if isinstance(raw, dict):
        ref = raw.get("ref")
        if isinstance(ref, bool):
            return None
        if isinstance(ref, str) and len(ref) <= MAX_REF_CHARS:
            return ref
        if isinstance(ref, int) and -(10**63) < ref < 10**64:
            return ref
    return None


def _describe(exc: PydanticValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"][1:]) or "message"
    return f"{where}: {first['msg']}"


def parse(raw: Any) -> ClientMessage:
    if not isinstance(raw, dict):
        raise BadMessage("a message must be an object")
    op = raw.get("op")
    if not isinstance(op, str):
        raise BadMessage("missing field 'op'")
    if op not in OPS:
        raise BadMessage(f"unknown op {op[:32]!r}")
    try:
        msg = _adapter.validate_python(raw)
    except PydanticValidationError as exc:
        raise BadMessage(_describe(exc)) from None
    if isinstance(msg, Hold):
        _check_hold(msg)
    if isinstance(msg, Release) and len(set(msg.seats)) != len(msg.seats):
        raise BadMessage("seats: each seat may appear once")
    return msg


def _check_hold(msg: Hold) -> None:
    if (msg.seats is None) == (msg.best is None):
        raise BadMessage("hold: give exactly one of 'seats' and 'best'")
    if msg.seats is not None and len(set(msg.seats)) != len(msg.seats):
        raise BadMessage("seats: each seat may appear once")
    if msg.best is not None:
        if msg.best.accessible > msg.best.count:
            raise BadMessage("best.accessible: at most best.count")
        if len(set(msg.best.types)) != len(msg.best.types):
            raise BadMessage("best.types: each type may appear once")


# Server -> client frames. Plain dicts: the codec encodes them once.

def ack_ok(ref: Ref | None, **fields: Any) -> dict[str, Any]:
    return {"t": "ack", "ref": ref, "ok": True, **fields}


def ack_error(ref: Ref | None, err: CodedError) -> dict[str, Any]:
    frame: dict[str, Any] = {"t": "ack", "ref": ref, "ok": False, "code": err.code,
                             "message": err.message}
    if err.seats:
        frame["seats"] = err.seats
    frame.update(err.details())
    return frame


def error(ref: Ref | None, err: CodedError) -> dict[str, Any]:
    frame: dict[str, Any] = {"t": "error", "code": err.code, "message": err.message}
    if ref is not None:
        frame["ref"] = ref
    return frame


def pong(ref: Ref | None) -> dict[str, Any]:
    return {"t": "pong", "ref": ref}


def queue_position(showtime: int, state: str, position: int | None, waiting: int,
                   eta_s: int | None, opens_at: int | None) -> dict[str, Any]:
    """Where a waiting buyer is: ``state`` ``waiting`` (``position`` 1 is
    next) or ``before_sale`` (no position until the shuffle at ``opens_at``)."""
    return {"t": "queue", "showtime": showtime, "state": state, "position": position,
            "waiting": waiting, "eta_s": eta_s, "opens_at": opens_at}


def admitted(showtime: int, expires_at: int) -> dict[str, Any]:
    """The buyer may hold seats now; unused, the admission ends at ``expires_at``."""
    return {"t": "admitted", "showtime": showtime, "expires_at": expires_at}


def admission_lapsed(showtime: int) -> dict[str, Any]:
    """The buyer's admission ended unused: holds are ``not_admitted`` until
    it queues again (at the back). Sent once per lapse to each socket that
    was told ``admitted``."""
    return {"t": "admission_lapsed", "showtime": showtime}
