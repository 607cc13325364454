"""The hold engine: seat state in Redis, changed only by Lua scripts."""

from seatserver.holds.engine import (
    BestRequest,
    ExpireResult,
    ExtendResult,
    HoldEngine,
    HoldResult,
    ResumePoint,
    SeatChange,
    Snapshot,
    StreamMark,
)

__all__ = ["BestRequest", "ExpireResult", "ExtendResult", "HoldEngine", "HoldResult",
           "ResumePoint", "SeatChange", "Snapshot", "StreamMark"]
