"""The audit's view check: every client's final view against a fresh snapshot.

For each client still connected when the run stops, a second connection with
the same token subscribes and gets a fresh snapshot (or summary, for a kiosk)
at some offset. The client's own view, built from one snapshot and then
updates only, must reach that offset and then show exactly the same held
seats, booked seats and own holds (kiosks: the same counts per type). If
more events arrive meanwhile and the view moves past the snapshot, a fresher
snapshot is taken; a room that never stands still is reported as unsettled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from seatserver.changefeed.events import Position, parse_offset
from seatserver.loadgen.buyer import Kiosk, Person, Shared
from seatserver.loadgen.client import SeatClient, SeatView
from seatserver.loadgen.seatmap import ShowtimePlan

ATTEMPTS = 6
# A view behind its snapshot must keep moving (a loaded server delivers late)
# and get there within the cap.
STALL_S = 5.0
CATCH_UP_MAX_S = 30.0
CONCURRENCY = 32
MAX_DETAILS = 20


@dataclass
class ViewCheck:
    compared: int = 0  # views equal to their fresh snapshot
    kiosks_compared: int = 0
    mismatched: int = 0
    unsettled: int = 0  # the room kept moving: never at one offset with its snapshot
    # had left, lost the connection or was between two rooms when the run stopped
    not_subscribed: int = 0
    details: list[str] = field(default_factory=list)

    def fail(self, text: str) -> None:
        self.mismatched += 1
        if len(self.details) < MAX_DETAILS:
            self.details.append(text)


async def compare_all(shared: Shared, people: Sequence[Person],
                      showtimes: Sequence[ShowtimePlan]) -> ViewCheck:
    check = ViewCheck()
    types = {plan.id: plan.types() for plan in showtimes}
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(person: Person) -> None:
        async with gate:
            await _compare(shared, person, check, types)

    await asyncio.gather(*(one(p) for p in people))
    return check


async def _compare(shared: Shared, person: Person, check: ViewCheck,
                   types: dict[int, dict[str, int]]) -> None:
    client, showtime = person.client, person.showtime
    if client is None or client.closed or showtime is None:
        check.not_subscribed += 1
        return
    probe = SeatClient(shared.http, shared.options.url, person.token,
                       protocol=shared.options.protocol)
    probe.keep_frames = True
    kiosk = isinstance(person, Kiosk)
    try:
        await probe.connect()
        if kiosk:
            verdict = await _summary(client.views[showtime], probe, showtime, types[showtime])
        else:
            verdict = await _seats(client.views[showtime], probe, showtime)
        if verdict is not None and verdict != "unsettled":
            # When it subscribed and last heard anything: what a reader of
            # the report needs to tell a stalled room from a slow client.
            now = time.monotonic()
            verdict += (f" [subscribed {now - person.subscribed_at:.1f} s ago, last frame "
                        f"{now - client.last_frame:.1f} s ago]")
    except (OSError, TimeoutError) as exc:
        verdict = f"no fresh snapshot: {exc!r}"
    finally:
        await probe.close()
    if verdict is None:
        if kiosk:
            check.kiosks_compared += 1
        else:
            check.compared += 1
    elif verdict == "unsettled":
        check.unsettled += 1
    else:
        check.fail(f"{person.name} (user {person.user}) showtime {showtime}: {verdict}")


async def _fresh(probe: SeatClient, showtime: int, view: str) -> dict[str, Any]:
    """A fresh snapshot (or summary) frame from the probe connection."""
    probe.frames.clear()
    ack = await probe.subscribe(showtime, view=view)
    if not ack.get("ok"):
        raise OSError(f"subscribe refused: {ack.get('code')}")
    kind = "summary" if view == "summary" else "snapshot"
    frame = next((f for f in probe.frames if f.get("t") == kind), None)
    if frame is None:
        raise OSError(f"no {kind} frame before the subscribe ack")
    await probe.request("unsubscribe", showtime=showtime)
    return frame


async def _reach(position: Callable[[], Position], target: Position) -> Position:
    """Wait until ``position()`` is at least ``target`` (bounded); returns it."""
    start = moved = time.monotonic()
    last = position()
    # A view has no event to wait on; it is polled, at the end of a run only.
    while last < target:
        now = time.monotonic()
        if now - moved > STALL_S or now - start > CATCH_UP_MAX_S:
            break
        await asyncio.sleep(0.01)
        if position() != last:
            last, moved = position(), time.monotonic()
    return last


def _position(frame: dict[str, Any] | None) -> Position:
    parsed = parse_offset(str(frame["offset"])) if frame else None
    return parsed or (0, 0)


async def _seats(view: SeatView, probe: SeatClient, showtime: int) -> str | None:
    for attempt in range(ATTEMPTS):
        snap = await _fresh(probe, showtime, "seats")
        target = _position(snap)
        reached = await _reach(lambda: view.position, target)
        if reached == target:
            return _diff(view, snap)
        if reached < target:
            return (f"view stuck at offset {view.offset}: a fresh snapshot is at "
                    f"{snap['offset']} and no update brought the view there "
                    f"(none for {STALL_S:g} s)")
        await asyncio.sleep(0.1 * (attempt + 1))
    return "unsettled"


def _diff(view: SeatView, snap: dict[str, Any]) -> str | None:
    parts = []
    for name, seen, fresh in (("held", view.held, set(snap["held"])),
                              ("booked", view.booked, set(snap["booked"])),
                              ("own holds", set(view.mine), set(snap["mine"]))):
        if seen != fresh:
            parts.append(f"{name}: the view also has {sorted(seen - fresh)[:8]}, "
                         f"lacks {sorted(fresh - seen)[:8]}")
    if not parts:
        return None
    return f"at offset {snap['offset']}: " + "; ".join(parts)


async def _summary(view: SeatView, probe: SeatClient, showtime: int,
                   types: dict[str, int]) -> str | None:
    for attempt in range(ATTEMPTS):
        fresh = await _fresh(probe, showtime, "summary")
        target = _position(fresh)
        reached = await _reach(lambda: _position(view.summary), target)
        if reached == target:
            return _summary_diff(view.summary, fresh, types)
        if reached < target:
            return (f"kiosk stuck at offset {view.summary and view.summary['offset']}: "
                    f"a fresh summary is at {fresh['offset']}")
        await asyncio.sleep(0.1 * (attempt + 1))
    return "unsettled"


def _summary_diff(seen: dict[str, Any] | None, fresh: dict[str, Any],
                  types: dict[str, int]) -> str | None:
    assert seen is not None
    counts = ("free", "held", "booked")
    if any(seen.get(k) != fresh.get(k) for k in counts):
        return (f"at offset {fresh['offset']}: the kiosk shows "
                f"{ {k: seen.get(k) for k in counts} }, a fresh summary "
                f"{ {k: fresh.get(k) for k in counts} }")
    for kind, total in types.items():
        shown = sum(int(seen.get(k, {}).get(kind, 0)) for k in counts)
        if shown != total:
            return f"{kind}: free + held + booked = {shown}, the layout has {total}"
    return None
