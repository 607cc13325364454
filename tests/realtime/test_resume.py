"""Resuming with `since`: exactly the missed entries, or a snapshot when they are gone."""

from __future__ import annotations

from tests.realtime.conftest import ClientFactory, ServerFactory
from tests.support import eventually


async def test_resume_replays_exactly_the_missed_updates(
        connect: ClientFactory, showtime: int, seats: list[str]) -> None:
    buyer = await connect()
    first = await connect()
    await first.subscribe(showtime)
    await buyer.hold(showtime, seats[:1])
    await eventually(lambda: first.views[showtime].held == {seats[0]})
    offset = first.views[showtime].offset
    await first.close()

    await buyer.hold(showtime, seats[1:2])
    await buyer.release(showtime, seats[:1])
    again = await connect()
    again.keep_frames = True
    ack = await again.subscribe(showtime, since=offset)
    assert ack["resumed"] is True
    frames = [f for f in again.frames if f["t"] != "ack"]
    assert [f["t"] for f in frames] == ["update"]  # no snapshot
    assert frames[0]["seats"] == {seats[1]: "held", seats[0]: "free"}
    assert frames[0]["reasons"] == {seats[1]: "hold", seats[0]: "release"}


async def test_resume_at_the_latest_offset_sends_nothing_but_the_ack(
        connect: ClientFactory, showtime: int, seats: list[str]) -> None:
    buyer = await connect()
    ack = await buyer.hold(showtime, seats[:1])
    assert ack["ok"]
    client = await connect()
    await client.subscribe(showtime)
    offset = client.views[showtime].offset
    again = await connect()
    again.keep_frames = True
    assert (await again.subscribe(showtime, since=offset))["resumed"] is True
    assert [f["t"] for f in again.frames] == ["ack"]
    await buyer.hold(showtime, seats[1:2])
    # Resumed clients keep their own state; this one only applies what is new.
    await eventually(lambda: again.views[showtime].held == {seats[1]})


async def test_resume_after_trimming_gets_a_snapshot(
        make_server: ServerFactory, connect: ClientFactory, showtime: int,
        seats: list[str]) -> None:
    trimmed = await make_server(stream_maxlen=100, max_seats=1000, rate_per_s=10_000.0,
                                rate_burst=10_000)
    url = str(trimmed.make_url("/")).rstrip("/")
    watcher, buyer = await connect(url), await connect(url)
    await watcher.subscribe(showtime)
    await buyer.hold(showtime, seats[:1])
    await eventually(lambda: watcher.views[showtime].held == {seats[0]})
    behind = watcher.views[showtime].offset
    for seat in seats[1:151]:
        await buyer.hold(showtime, [seat])
        await buyer.release(showtime, [seat])

    client = await connect(url)
    client.keep_frames = True
    assert (await client.subscribe(showtime, since=behind))["resumed"] is False
    assert client.frames[0]["t"] == "snapshot"
    assert client.views[showtime].held == {seats[0]}


async def test_resume_from_an_invalid_offset_gets_a_snapshot(
        connect: ClientFactory, showtime: int) -> None:
    for garbage in ("nonsense", "0-0", "99999999999999-0", "1-x"):
        client = await connect()
        client.keep_frames = True
        assert (await client.subscribe(showtime, since=garbage))["resumed"] is False
        assert client.frames[0]["t"] == "snapshot"
