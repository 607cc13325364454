"""The WebSocket protocol against a running app: the realtime suite's fixtures."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from seatserver.loadgen.client import SeatClient
from tests.realtime.conftest import (  # noqa: F401  (fixtures, found by name)
    ServerFactory,
    base_url,
    connect,
    http,
    make_server,
    seats,
    settings,
    showtime,
)

Exchange = Callable[[SeatClient, Any], Awaitable[list[dict[str, Any]]]]


@pytest.fixture
async def server(make_server: ServerFactory, demo: list[int]) -> TestServer:  # noqa: F811
    """The app, its message rate limit out of the way: these tests send
    hundreds of frames on one socket, and the limit has tests of its own."""
    return await make_server(rate_per_s=100_000.0, rate_burst=100_000)


@pytest.fixture
def exchange() -> Exchange:
    """Send one raw frame (a str or bytes as is, anything else encoded with the
    client's codec) and return every frame the server sent in reply. A ping
    follows it: commands are answered in order, so its pong closes the reply
    and shows that the connection is still usable."""
    async def run(client: SeatClient, frame: Any) -> list[dict[str, Any]]:
        client.keep_frames = True
        client.frames.clear()
        if not isinstance(frame, str | bytes):
            frame = client.codec.encode(frame)
            if not client.codec.binary:
                frame = frame.decode()
        await client.send_raw(frame)
        pong = await client.request("ping")
        assert pong["t"] == "pong", pong
        return [f for f in client.frames if f is not pong]
    return run


@pytest.fixture(autouse=True)
def no_server_errors(caplog: pytest.LogCaptureFixture) -> Any:
    """Fail a test whose server logged an error or a traceback."""
    yield
    bad = [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL") or r.exc_info]
    assert not bad, [f"{r.name}: {r.getMessage()}" for r in bad]
