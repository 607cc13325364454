"""Stream entries as typed events, and offsets as comparable positions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Position = tuple[int, int]

# Each half of a stream id is an unsigned 64-bit integer in Redis.
MAX_ID_PART = 2**64 - 1


def _digits(text: str) -> bool:
    # str.isdigit() alone also takes "²" and "١٢", which int() then refuses.
    return text.isascii() and text.isdigit()


def parse_offset(offset: str) -> Position | None:
    """``"<ms>-<seq>"`` as a comparable pair, or None when it is not an offset
    Redis could have handed out (ASCII digits, each half within 64 bits)."""
    if len(offset) > 41:
        return None
    ms, sep, seq = offset.partition("-")
    if not sep or not _digits(ms) or not _digits(seq):
        return None
    position = int(ms), int(seq)
    if position[0] > MAX_ID_PART or position[1] > MAX_ID_PART:
        return None
    return position


@dataclass(frozen=True, slots=True)
class Event:
    """One stream entry: a change of state of some seats, for one reason."""

    offset: str
    position: Position
    kind: str  # hold | release | expire | book | cancel | block | unblock
    seats: tuple[str, ...]
    deadline: int | None  # hold events: the holds' deadline (Redis clock, ms)
    epoch: str = ""  # the stream's epoch when it was appended ('' if not stamped)

    @classmethod
    def from_entry(cls, entry_id: Any, fields: dict[Any, Any]) -> Event:
        offset = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        position = parse_offset(offset)
        assert position is not None, offset  # Redis only hands out valid ids
        kind = fields.get(b"k", b"").decode()
        seats = fields.get(b"s", b"").decode()
        deadline = fields.get(b"e")
        epoch = fields.get(b"x", b"").decode()
        return cls(
            offset=offset,
            position=position,
            kind=kind,
            seats=tuple(seats.split(",")) if seats else (),
            deadline=int(deadline) if deadline is not None else None,
            epoch=epoch,
        )

    @property
    def state(self) -> str:
        """The state the event leaves its seats in."""
        return STATE_AFTER.get(self.kind, "free")


STATE_AFTER = {"hold": "held", "book": "booked", "release": "free", "expire": "free",
               "cancel": "free", "block": "blocked", "unblock": "free"}
