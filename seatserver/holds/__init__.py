"""The hold engine: seat state in Redis, changed only by Lua scripts."""

from seatserver.holds.engine import (
    ExpireResult,
    HoldEngine,
    HoldResult,
    SeatChange,
    Snapshot,
)

__all__ = ["ExpireResult", "HoldEngine", "HoldResult", "SeatChange", "Snapshot"]
