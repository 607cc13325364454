"""The hold engine: seat state in Redis, changed only by Lua scripts."""

from seatserver.holds.engine import (
    ExpireResult,
    ExtendResult,
    HoldEngine,
    HoldResult,
    ResumePoint,
    SeatChange,
    Snapshot,
    StreamMark,
)

__all__ = ["ExpireResult", "ExtendResult", "HoldEngine", "HoldResult", "ResumePoint",
           "SeatChange", "Snapshot", "StreamMark"]
