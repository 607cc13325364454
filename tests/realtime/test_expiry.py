"""Holds expire on time and every subscriber is told at once."""

from __future__ import annotations

import time

from tests.realtime.conftest import ClientFactory, ServerFactory
from tests.support import eventually


async def test_one_second_hold_expires_and_is_broadcast_within_500ms(
        make_server: ServerFactory, connect: ClientFactory, showtime: int,
        seats: list[str]) -> None:
    short = await make_server(hold_ttl_s=1)
    url = str(short.make_url("/")).rstrip("/")
    watcher, buyer = await connect(url), await connect(url)
    watcher.keep_frames = True
    await watcher.subscribe(showtime)
    ack = await buyer.hold(showtime, seats[:2])
    deadline_ms = ack["expires_at"]
    await eventually(lambda: watcher.views[showtime].held == set(seats[:2]))
    await eventually(lambda: not watcher.views[showtime].held, within=3)
    seen_ms = time.time() * 1000
    assert seen_ms - deadline_ms < 500, f"expiry seen {seen_ms - deadline_ms:.0f} ms late"
    assert watcher.frames[-1]["reasons"] == dict.fromkeys(seats[:2], "expire")
    # The seats are free for the next buyer.
    assert (await watcher.hold(showtime, seats[:2]))["ok"] is True
