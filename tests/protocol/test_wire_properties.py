"""Properties over the wire: a running app answers any frame, and any command
with hostile fields, with well-formed frames (never internal_error), and the
connection stays usable.

The app and its clients run on the test's own event loop, and Hypothesis runs
each example there (pytest-asyncio drives async ``@given`` tests): a draw is
plain synchronous code, so nothing else runs while Hypothesis watches the
global ``random`` around it. (With the app on a thread of its own, its
libraries' use of ``random`` (a WebSocket mask, a retry's jitter) overlapped
draws now and then and failed the test with Hypothesis' "Do not use the
random module inside strategies".)
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgpack
import pytest_asyncio
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from seatserver.app import create_app
from seatserver.loadgen.client import SeatClient, new_session
from seatserver.ports import free_port
from seatserver.protocol.codecs import JSON_PROTOCOL, MSGPACK_PROTOCOL
from seatserver.settings import Settings
from tests.protocol.strategies import BOUNDED, MSGPACK_INTS, commands, values

# Each example is two round trips through the app; fewer than the decoders get.
WIRE = settings(BOUNDED, max_examples=60)

REPLIES = {"ack", "error", "pong", "snapshot", "update", "summary"}


class LiveApp:
    """The app on a free port and one client per encoding."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clients: dict[str, SeatClient] = {}
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self) -> None:
        port = free_port()
        self._runner = web.AppRunner(create_app(self.settings))
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = url = f"http://127.0.0.1:{port}"
        self._http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        for protocol in (JSON_PROTOCOL, MSGPACK_PROTOCOL):
            client = SeatClient(self._http, url, await new_session(self._http, url),
                                protocol=protocol)
            self.clients[protocol] = await client.connect()
            client.keep_frames = True

    async def stop(self) -> None:
        for client in self.clients.values():
            await client.close()
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def seat_ids(self, showtime: int) -> list[str]:
        assert self._http is not None
        async with self._http.get(f"{self.url}/api/showtimes/{showtime}") as resp:
            body = await resp.json()
        return [seat["id"] for seat in body["seats"]]

    async def exchange(self, protocol: str, data: str | bytes) -> list[dict[str, Any]]:
        client = self.clients[protocol]
        client.frames.clear()
        await client.send_raw(data)
        pong = await client.request("ping")
        assert pong["t"] == "pong", pong  # still usable, and every reply is in
        return [f for f in client.frames if f is not pong]


@pytest_asyncio.fixture
async def live(settings: Settings, demo: list[int]) -> AsyncIterator[LiveApp]:
    app = LiveApp(settings.replace(rate_per_s=100_000.0, rate_burst=100_000))
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


@pytest_asyncio.fixture
async def seat_ids(live: LiveApp, demo: list[int]) -> list[str]:
    return await live.seat_ids(demo[0])


def _check(frames: list[dict[str, Any]], sent: Any) -> None:
    assert frames, f"no reply to {sent!r}"
    for frame in frames:
        assert frame.get("t") in REPLIES, (sent, frame)
        assert frame.get("code") != "internal_error", (sent, frame)
        ref = frame.get("ref")
        assert ref is None or len(str(ref)) <= 64, (sent, frame)


def _json_frames() -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=200), values(st.integers()).map(json.dumps))


def _msgpack_frames() -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=200),
                     values(MSGPACK_INTS).map(lambda v: msgpack.packb(v, use_bin_type=True)))


@WIRE
@given(data=st.data())
async def test_any_frame_gets_a_well_formed_answer(live: LiveApp, data: st.DataObject) -> None:
    text = data.draw(_json_frames(), label="json frame")
    _check(await live.exchange(JSON_PROTOCOL, text), text)
    binary = data.draw(_msgpack_frames(), label="msgpack frame")
    _check(await live.exchange(MSGPACK_PROTOCOL, binary), binary)


@WIRE
@given(data=st.data())
async def test_commands_with_hostile_fields_get_a_well_formed_answer(
        live: LiveApp, demo: list[int], seat_ids: list[str], data: st.DataObject) -> None:
    command = data.draw(commands(demo[0], seat_ids, st.integers()), label="json command")
    _check(await live.exchange(JSON_PROTOCOL, json.dumps(command)), command)
    command = data.draw(commands(demo[0], seat_ids, MSGPACK_INTS), label="msgpack command")
    _check(await live.exchange(MSGPACK_PROTOCOL, msgpack.packb(command, use_bin_type=True)),
           command)
