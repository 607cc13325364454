"""web/shared/socket.js through a real server: resuming after a lost connection.

A page keeps the offset and the stream epoch of the last frame it applied and
resubscribes with both (docs/protocol.md, "Offsets, epochs and resuming").
Within the epoch it is sent only what it missed; when the stream began a new
epoch meanwhile (here: its Redis restarted empty, on a clock that hands out the
same stream ids again, so the offset alone cannot tell), it must get a
snapshot and show the server's truth, never a stale map.

Each page's WebSocket runs through a ``Line`` that records its frames and can
be cut and kept down while the test changes things behind the page's back.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from playwright.async_api import Locator, Page, expect

from seatserver.loadgen.client import SeatClient
from tests.e2e.browsing import Browsing, Line, Picker, someone_else
from tests.e2e.server import Server, ServerFactory
from tests.processes import FrozenRedis
from tests.support import eventually

AWAY = re.compile("reconnecting|offline")


async def test_cut_off_picker_resumes_with_since_and_epoch_and_gets_what_it_missed_alone(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    showtime = showtimes[0]
    line = Line()
    picker = await browsing.picker(server.url, showtime, gate=line)
    await picker.hold("E5")
    async with someone_else(server.url, showtime) as other:
        assert (await other.hold(showtime, ["F3"]))["ok"]
        assert (await other.hold(showtime, ["F4"]))["ok"]
        await picker.expect_look("F4", "held")
        since, epoch = line.last_position(showtime)

        await line.cut()
        await expect(picker.status).to_have_attribute("data-status", AWAY)
        released = await other.release(showtime, ["F3"])
        held = await other.hold(showtime, ["F5"])
        assert released["ok"] and held["ok"] and held["epoch"] == epoch
        line.mend()

        await picker.wait_live()
    await picker.expect_look("F3", "available")
    await picker.expect_look("F5", "held")
    await picker.expect_look("F4", "held")
    await picker.expect_look("E5", "mine")
    await expect(picker.basket).to_contain_text("Row E, seat 5")

    assert _subscribes(line) == [(since, epoch)]
    frames = await _answer(line, showtime)
    assert [f["t"] for f in frames] == ["update"] * (len(frames) - 1) + ["ack"]
    assert frames[-1]["resumed"] is True
    updates = frames[:-1]
    assert {f["epoch"] for f in updates} == {epoch}
    assert updates[-1]["offset"] == held["offset"]
    assert {k: v for f in updates for k, v in f["seats"].items()} == {"F3": "free", "F5": "held"}


async def test_picker_away_while_redis_restarted_empty_gets_a_snapshot_and_the_truth(
        frozen_redis: FrozenRedis, browsing: Browsing, start_server: ServerFactory,
        showtimes: list[int]) -> None:
    showtime = showtimes[0]
    server = start_server(REDIS_URL=frozen_redis.url)
    line = Line()
    picker = await browsing.picker(server.url, showtime, gate=line)
    since, epoch = await _before_the_restart(picker, line, server, showtime)

    await _away_while_redis_restarts_empty(picker, line, frozen_redis, server, showtime, since)
    assert _subscribes(line) == [(since, epoch)]
    frames = await _answer(line, showtime)
    assert [f["t"] for f in frames] == ["snapshot", "ack"]
    snapshot, ack = frames
    assert snapshot["epoch"] != epoch and ack["resumed"] is False

    await _next_cut_resumes_within(line, picker.status, server, showtime, snapshot["epoch"])
    await picker.expect_look("H1", "held")


async def test_picker_resumed_by_offset_alone_into_a_new_epoch_takes_a_snapshot_instead(
        frozen_redis: FrozenRedis, browsing: Browsing, start_server: ServerFactory,
        showtimes: list[int]) -> None:
    # The server is not told the page's epoch, so the reissued offset looks
    # like its own and it replays from there: updates of the new epoch. The
    # page must not apply them to the map of the old one.
    showtime = showtimes[0]
    server = start_server(REDIS_URL=frozen_redis.url)
    line = Line(forget_epoch=True)
    picker = await browsing.picker(server.url, showtime, gate=line)
    since, epoch = await _before_the_restart(picker, line, server, showtime)

    await _away_while_redis_restarts_empty(picker, line, frozen_redis, server, showtime, since)
    frames = await _answer(line, showtime, snapshots=1)
    replayed = [f for f in frames if f["t"] == "update"]
    assert replayed and all(f["epoch"] != epoch for f in replayed)
    assert _subscribes(line) == [(since, epoch), (None, None)]
    assert frames[-2]["t"] == "snapshot" and frames[-2]["epoch"] == replayed[0]["epoch"]
    await _next_cut_resumes_within(line, picker.status, server, showtime, frames[-2]["epoch"])
    await picker.expect_look("H1", "held")


async def test_kiosk_map_away_while_redis_restarted_empty_gets_a_snapshot_and_the_truth(
        frozen_redis: FrozenRedis, browsing: Browsing, start_server: ServerFactory,
        showtimes: list[int]) -> None:
    showtime = showtimes[0]
    server = start_server(REDIS_URL=frozen_redis.url)
    line = Line()
    kiosk = await browsing.kiosk(server.url, f"?showtime={showtime}", gate=line)
    seat_map = kiosk.get_by_role("img", name=re.compile("Seat map"))
    status = kiosk.locator("#conn")
    async with someone_else(server.url, showtime) as other:
        assert (await other.hold(showtime, ["F3"]))["ok"]
        assert (await other.hold(showtime, ["F4"]))["ok"]
        await expect(seat_map).to_have_attribute("aria-label", "Seat map: 210 of 212 seats free")
    since, epoch = line.last_position(showtime)

    await line.cut()
    await expect(status).to_have_attribute("data-status", AWAY)
    await _restart_empty(frozen_redis, server)
    async with someone_else(server.url, showtime) as other:
        assert (await _when_back(other.hold, showtime, ["G7"]))["ok"]
        assert (await other.hold(showtime, ["G8"]))["ok"]
        assert (await other.release(showtime, ["G8"]))["ok"]
    _reissued(frozen_redis, showtime, since)
    line.mend()

    await expect(status).to_have_attribute("data-status", "live")
    await expect(seat_map).to_have_attribute("aria-label", "Seat map: 211 of 212 seats free")
    assert _subscribes(line) == [(since, epoch)]
    frames = await _answer(line, showtime)
    assert [f["t"] for f in frames] == ["snapshot", "ack"]
    assert frames[0]["epoch"] != epoch and frames[0]["held"] == ["G7"]
    await _next_cut_resumes_within(line, status, server, showtime, frames[0]["epoch"])
    await expect(seat_map).to_have_attribute("aria-label", "Seat map: 210 of 212 seats free")


# -- steps the epoch tests share -------------------------------------------------------


async def _before_the_restart(picker: Picker, line: Line, server: Server, showtime: int
                              ) -> tuple[str, str]:
    """Someone else holds F3 and the page E5: two stream entries. Returns the
    offset and epoch the page last applied."""
    async with someone_else(server.url, showtime) as other:
        assert (await other.hold(showtime, ["F3"]))["ok"]
        await picker.expect_look("F3", "held")
        await picker.hold("E5")
        await expect(picker.basket).to_contain_text("Row E, seat 5")
    # The page has applied its own hold's update too.
    acks = [f for f in line.received() if f["t"] == "ack" and "expires_at" in f]
    await eventually(lambda: line.last_position(showtime)[0] == acks[-1]["offset"])
    return line.last_position(showtime)


async def _away_while_redis_restarts_empty(picker: Picker, line: Line, redis: FrozenRedis,
                                           server: Server, showtime: int, since: str) -> None:
    """The picker is cut off while Redis restarts empty and the hall changes; the
    page's old offset is handed out again; then it is back, showing the truth."""
    await line.cut()
    await expect(picker.status).to_have_attribute("data-status", AWAY)
    await _restart_empty(redis, server)
    await _meanwhile(picker.page, server, showtime)
    _reissued(redis, showtime, since)
    line.mend()

    await picker.wait_live()
    await _shows_the_truth(picker)


async def _restart_empty(redis: FrozenRedis, server: Server) -> None:
    """Restart the server's Redis empty (a new epoch), and wait until the
    server uses it again."""
    redis.stop()
    redis.start()

    async def ready() -> bool:
        async with aiohttp.ClientSession() as http, http.get(server.url + "/readyz") as resp:
            return resp.status == 200

    await eventually(ready, within=10, interval=0.05)


async def _meanwhile(page: Page, server: Server, showtime: int) -> None:
    """While the page is away: its own person holds E6 from another tab, and
    someone else G7 then G8. Three entries in the new epoch, so the offset the
    page last applied (the old epoch's second) is handed out again."""
    async with same_person(page, server.url) as me:
        assert (await _when_back(me.hold, showtime, ["E6"]))["ok"]
    async with someone_else(server.url, showtime) as other:
        assert (await _when_back(other.hold, showtime, ["G7"]))["ok"]
        assert (await other.hold(showtime, ["G8"]))["ok"]


async def _next_cut_resumes_within(line: Line, status: Locator, server: Server, showtime: int,
                                   epoch: str) -> None:
    """Once a page has the new epoch's snapshot, the epoch is its own: cut
    again while someone else holds H1, it resumes from where it was in that
    epoch and is sent just the update it missed."""
    since = line.last_position(showtime)
    assert since[1] == epoch
    await line.cut()
    await expect(status).to_have_attribute("data-status", AWAY)
    async with someone_else(server.url, showtime) as other:
        held = await other.hold(showtime, ["H1"])
        assert held["ok"] and held["epoch"] == epoch
    line.mend()

    await expect(status).to_have_attribute("data-status", "live")
    assert _subscribes(line) == [since]
    frames = await _answer(line, showtime)
    assert [(f["t"], f.get("epoch"), f.get("resumed")) for f in frames] == [
        ("update", epoch, None), ("ack", None, True)]


def _reissued(redis: FrozenRedis, showtime: int, since: str) -> None:
    """The offset the page last applied names an entry again, of the new epoch:
    only the epoch tells that it is not the one the page saw."""
    with redis.client() as plain:
        assert plain.xrange(f"ev:{{st:{showtime}}}", since, since)


async def _shows_the_truth(picker: Picker) -> None:
    """The server's state after the restart: F3 and E5 are free (Redis lost
    those holds), E6 is the page's, G7 and G8 someone else's."""
    await picker.expect_look("F3", "available")
    await picker.expect_look("E5", "available")
    await picker.expect_look("E6", "mine")
    await picker.expect_look("G7", "held")
    await picker.expect_look("G8", "held")
    await expect(picker.basket).to_contain_text("Row E, seat 6")
    await expect(picker.basket).not_to_contain_text("Row E, seat 5")
    await expect(picker.notice).to_contain_text("Row E, seat 5")


@asynccontextmanager
async def same_person(page: Page, base_url: str) -> AsyncIterator[SeatClient]:
    """The page's own person on a plain protocol client: its session cookie's token."""
    cookies = await page.context.cookies()
    token = next(c["value"] for c in cookies if c["name"] == "seatserver_session")
    async with aiohttp.ClientSession() as http, SeatClient(http, base_url, token) as client:
        yield client


async def _when_back(change: Callable[[int, list[str]], Awaitable[dict[str, Any]]],
                     showtime: int, seats: list[str]) -> dict[str, Any]:
    """A hold or release, tried again while the server finds its Redis again."""
    answer: dict[str, Any] = {}

    async def answered() -> bool:
        nonlocal answer
        answer = await change(showtime, seats)
        return answer.get("code") != "unavailable"

    await eventually(answered, within=10, interval=0.05)
    return answer


def _subscribes(line: Line) -> list[tuple[str | None, str | None]]:
    """The since and epoch of every subscribe the page sent on its last connection."""
    return [(f.get("since"), f.get("epoch")) for f in line.sent() if f["op"] == "subscribe"]


async def _answer(line: Line, showtime: int, snapshots: int = 0) -> list[dict[str, Any]]:
    """What the page was sent of ``showtime`` on its last connection, up to the
    subscribe ack that follows its ``snapshots``-th snapshot."""
    def frames() -> list[dict[str, Any]]:
        return [f for f in line.received() if f.get("showtime") == showtime]

    def complete() -> bool:
        got = frames()
        seen = [i for i, f in enumerate(got) if f["t"] == "snapshot"]
        after = seen[snapshots - 1] if snapshots else -1
        return len(seen) >= snapshots and any(f["t"] == "ack" for f in got[after + 1:])

    await eventually(complete)
    got = frames()
    seen = [i for i, f in enumerate(got) if f["t"] == "snapshot"]
    after = seen[snapshots - 1] if snapshots else -1
    end = next(i for i in range(after + 1, len(got)) if got[i]["t"] == "ack")
    return got[:end + 1]


async def test_picker_reconnecting_while_redis_is_down_follows_the_showtime_once_it_is_back(
        frozen_redis: FrozenRedis, browsing: Browsing, start_server: ServerFactory,
        showtimes: list[int]) -> None:
    showtime = showtimes[0]
    server = start_server(REDIS_URL=frozen_redis.url)
    line = Line()
    picker = await browsing.picker(server.url, showtime, gate=line)

    await line.cut()
    frozen_redis.stop()
    line.mend()
    # The server answers, but cannot serve the showtime: not live, and not given up.
    refused = await _refusal(line, showtime)
    assert refused["code"] == "unavailable"
    await expect(picker.status).to_have_attribute("data-status", AWAY)
    frozen_redis.start()

    await picker.wait_live()
    async with someone_else(server.url, showtime) as other:
        assert (await _when_back(other.hold, showtime, ["F3"]))["ok"]
    await picker.expect_look("F3", "held")
    await expect(picker.notice).to_be_hidden()


async def _refusal(line: Line, showtime: int) -> dict[str, Any]:
    def refusals() -> list[dict[str, Any]]:
        return [f for f in line.received() if f["t"] == "ack" and f["ok"] is False]

    await eventually(lambda: bool(refusals()))
    return refusals()[0]
