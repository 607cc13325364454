"""The load generator's WebSocket socket (``loadgen.wire``) against a scripted
server on a raw socket: it answers the upgrade as told, then writes exactly the
bytes a test gives it, so frames a real server never sends (fragmented,
hostile, cut short) can be sent too."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import shutil
import ssl
import struct
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from seatserver.loadgen.client import SeatClient
from seatserver.loadgen.wire import WireSocket, open_socket
from tests.support import eventually

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def server_frame(opcode: int, payload: bytes, *, final: bool = True, head: int = 0) -> bytes:
    """An unmasked frame as a server writes it; ``head`` ORs bits into byte 0."""
    b0 = (0x80 if final else 0) | opcode | head
    size = len(payload)
    if size < 126:
        return bytes((b0, size)) + payload
    if size < 65536:
        return struct.pack("!BBH", b0, 126, size) + payload
    return struct.pack("!BBQ", b0, 127, size) + payload


class Peer:
    """One scripted server connection at a time."""

    def __init__(self, status: int = 101, answer: bool = True) -> None:
        self.status = status
        self.answer = answer
        self.request = b""
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.connected = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def start(self, tls: ssl.SSLContext | None = None) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=tls)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.writers.append(writer)
        self.request = await reader.readuntil(b"\r\n\r\n")
        if self.answer:
            key = next(line.split(b":", 1)[1].strip() for line in self.request.split(b"\r\n")
                       if line.lower().startswith(b"sec-websocket-key:"))
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            if self.status == 101:
                writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                             b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept
                             + b"\r\nSec-WebSocket-Protocol: seats.v1.json\r\n\r\n")
            else:
                writer.write(f"HTTP/1.1 {self.status} Nope\r\nContent-Length: 4\r\n\r\nnope"
                             .encode())
        self.connected.set()

    async def send(self, data: bytes) -> None:
        await self.connected.wait()
        assert self.writer is not None
        self.writer.write(data)
        await self.writer.drain()

    async def client_frame(self) -> tuple[int, bytes, bytes]:
        """The next frame the client sent: its opcode, masking key and payload
        (unmasked); client frames must be final and masked."""
        assert self.reader is not None
        b0, b1 = await self.reader.readexactly(2)
        assert b0 & 0x80 and b1 & 0x80, "client frames are final and masked"
        size = b1 & 0x7F
        if size == 126:
            size = struct.unpack("!H", await self.reader.readexactly(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", await self.reader.readexactly(8))[0]
        mask = await self.reader.readexactly(4)
        data = await self.reader.readexactly(size)
        return b0 & 0x0F, mask, bytes(b ^ mask[i % 4] for i, b in enumerate(data))

    async def close(self) -> None:
        for writer in self.writers:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


class Received:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.closed: list[WireSocket] = []

    def message(self, sock: WireSocket, payload: bytes, arrived: float) -> None:
        self.messages.append(payload)

    def close(self, sock: WireSocket) -> None:
        self.closed.append(sock)


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    made = Peer()
    yield made
    await made.close()


async def opened(peer: Peer, got: Received, **kwargs: object) -> WireSocket:
    port = await peer.start()
    return await open_socket(f"ws://127.0.0.1:{port}/ws", got.message, on_close=got.close,
                             protocol="seats.v1.json", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 300_000])
async def test_messages_of_every_length_class_arrive_whole(peer: Peer, size: int) -> None:
    got = Received()
    sock = await opened(peer, got)
    payload = bytes(i % 251 for i in range(size))
    await peer.send(server_frame(0x1, payload) + server_frame(0x2, b"after"))
    await eventually(lambda: len(got.messages) == 2)
    assert got.messages == [payload, b"after"]
    assert not sock.closed
    sock.close()


async def test_frames_split_byte_by_byte_arrive_whole(peer: Peer) -> None:
    got = Received()
    sock = await opened(peer, got)
    sizes = (5, 200, 70_000)
    data = b"".join(server_frame(0x1, bytes([65 + n]) * size) for n, size in enumerate(sizes))
    for i in range(0, 300):  # the headers and the first frames, one byte per read
        sock.data_received(data[i:i + 1])
    sock.data_received(data[300:])
    assert [len(m) for m in got.messages] == list(sizes)
    assert not sock.closed


async def test_upgrade_request_carries_path_protocol_and_headers(peer: Peer) -> None:
    got = Received()
    port = await peer.start()
    sock = await open_socket(f"http://127.0.0.1:{port}/base/ws?x=1", got.message,
                             protocol="seats.v1.msgpack",
                             headers={"Authorization": "Bearer tok", "Origin": "https://o.example",
                                      "X-Forwarded-For": "10.1.2.3"})
    head = peer.request.decode()
    assert head.startswith("GET /base/ws?x=1 HTTP/1.1\r\n")
    for line in (f"Host: 127.0.0.1:{port}", "Upgrade: websocket", "Connection: Upgrade",
                 "Sec-WebSocket-Version: 13", "Sec-WebSocket-Protocol: seats.v1.msgpack",
                 "Authorization: Bearer tok", "Origin: https://o.example",
                 "X-Forwarded-For: 10.1.2.3"):
        assert line in head.split("\r\n")
    assert sock.protocol == "seats.v1.json"  # what this peer chose
    sock.close()


async def test_client_frames_are_masked_and_a_ping_is_answered_with_its_payload(
        peer: Peer) -> None:
    got = Received()
    sock = await opened(peer, got)
    assert sock.send(b'{"op":"ping"}')
    assert await peer.client_frame() == (0x1, b"\0\0\0\0", b'{"op":"ping"}')
    await peer.send(server_frame(0x9, b"are you there"))
    assert await peer.client_frame() == (0xA, b"\0\0\0\0", b"are you there")
    big = b"x" * 70_000
    assert sock.send(big, 0x2)
    assert await peer.client_frame() == (0x2, b"\0\0\0\0", big)
    sock.close()


async def test_fragmented_message_is_joined_around_a_ping(peer: Peer) -> None:
    got = Received()
    sock = await opened(peer, got)
    await peer.send(server_frame(0x1, b"hel", final=False) + server_frame(0x9, b"p")
                    + server_frame(0x0, b"lo ", final=False) + server_frame(0x0, b"world"))
    await eventually(lambda: bool(got.messages))
    assert got.messages == [b"hello world"]
    assert (await peer.client_frame())[0] == 0xA
    assert not sock.closed
    sock.close()


async def test_server_close_frame_is_answered_and_recorded(peer: Peer) -> None:
    got = Received()
    sock = await opened(peer, got)
    await peer.send(server_frame(0x8, struct.pack("!H", 1008) + b"policy"))
    await eventually(lambda: sock.closed)
    assert (sock.close_code, sock.close_reason, sock.failure) == (1008, "policy", "")
    assert got.closed == [sock]
    opcode, _, payload = await peer.client_frame()
    assert (opcode, payload) == (0x8, struct.pack("!H", 1008))
    assert not sock.send(b"too late")


async def test_client_close_waits_for_the_servers_close_frame(peer: Peer) -> None:
    got = Received()
    sock = await opened(peer, got)
    closing = asyncio.create_task(sock.aclose())
    opcode, _, payload = await peer.client_frame()
    assert (opcode, payload) == (0x8, struct.pack("!H", 1000))
    assert not sock.closed
    await peer.send(server_frame(0x1, b"in flight") + server_frame(0x8, payload))
    await closing
    assert sock.closed and sock.close_code == 1000 and got.messages == []


HOSTILE = [
    (server_frame(0x3, b"x"), "reserved opcode 0x3"),
    (server_frame(0xB, b"x"), "reserved opcode 0xb"),
    (server_frame(0x1, b"x", head=0x40), "reserved bits"),
    (bytes((0x81, 0x81)) + b"\1\2\3\4" + b"x", "masked frame"),
    (server_frame(0x0, b"x"), "continuation frame with no message"),
    (server_frame(0x1, b"a", final=False) + server_frame(0x1, b"b"), "inside a fragmented"),
    (server_frame(0x9, b"x" * 126), "control frame"),
    (server_frame(0x9, b"x", final=False), "control frame"),
    (server_frame(0x8, b"\x03"), "one-byte payload"),
    (server_frame(0x8, b"\x03\xe8\xff"), "not UTF-8"),
    (struct.pack("!BBQ", 0x81, 127, 1 << 62), "over the limit"),
]


@pytest.mark.parametrize(("data", "reason"), HOSTILE, ids=[r for _, r in HOSTILE])
async def test_hostile_frame_fails_the_socket_cleanly(
        peer: Peer, data: bytes, reason: str, caplog: pytest.LogCaptureFixture) -> None:
    got = Received()
    sock = await opened(peer, got)
    await peer.send(data + server_frame(0x1, b"never delivered"))
    await eventually(lambda: sock.closed)
    assert reason in sock.failure
    assert got.messages == [] and got.closed == [sock]
    opcode, _, payload = await peer.client_frame()
    assert opcode == 0x8 and struct.unpack("!H", payload)[0] in (1002, 1009)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_truncated_frame_fails_the_socket(peer: Peer) -> None:
    got = Received()
    sock = await opened(peer, got)
    await peer.send(server_frame(0x1, b"whole") + server_frame(0x1, b"cut short")[:6])
    assert peer.writer is not None
    peer.writer.close()
    await eventually(lambda: sock.closed)
    assert got.messages == [b"whole"]
    assert "truncated frame" in sock.failure


async def test_connection_dropped_between_frames_is_a_close_not_a_failure(peer: Peer) -> None:
    got = Received()
    sock = await opened(peer, got)
    await peer.send(server_frame(0x1, b"whole"))
    assert peer.writer is not None
    peer.writer.close()
    await eventually(lambda: sock.closed)
    assert sock.failure == "" and sock.close_code is None and got.closed == [sock]


@pytest.mark.parametrize("status", [401, 503])
async def test_refused_upgrade_raises_aiohttps_handshake_error(status: int) -> None:
    peer = Peer(status)
    port = await peer.start()
    try:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await open_socket(f"ws://127.0.0.1:{port}/ws", Received().message)
        assert refused.value.status == status
        async with aiohttp.ClientSession() as http:
            client = SeatClient(http, f"http://127.0.0.1:{port}", "token")
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await client.connect()
        assert refused.value.status == status
        assert client.closed
    finally:
        await peer.close()


async def test_upgrade_with_a_wrong_accept_key_is_refused() -> None:
    peer = Peer(answer=False)
    port = await peer.start()
    try:
        opening = asyncio.create_task(open_socket(f"ws://127.0.0.1:{port}/ws",
                                                  Received().message))
        await peer.connected.wait()
        assert peer.writer is not None
        peer.writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          b"Connection: Upgrade\r\nSec-WebSocket-Accept: bogus\r\n\r\n")
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await opening
        assert refused.value.status == 101
    finally:
        await peer.close()


async def test_upgrade_that_never_comes_times_out() -> None:
    peer = Peer(answer=False)
    port = await peer.start()
    try:
        with pytest.raises(TimeoutError):
            await open_socket(f"ws://127.0.0.1:{port}/ws", Received().message, within=0.2)
    finally:
        await peer.close()


async def test_connection_refused_raises_oserror(unused_tcp_port: int) -> None:
    with pytest.raises(OSError):
        await open_socket(f"ws://127.0.0.1:{unused_tcp_port}/ws", Received().message)


async def test_seat_client_records_a_failed_socket_and_fails_what_waits(peer: Peer) -> None:
    port = await peer.start()
    async with aiohttp.ClientSession() as http:
        client = await SeatClient(http, f"http://127.0.0.1:{port}", "token").connect()
        pending = asyncio.create_task(client.hold(7, ["A1"]))
        _, _, payload = await peer.client_frame()
        assert orjson.loads(payload)["op"] == "hold"
        await peer.send(server_frame(0x5, b""))
        with pytest.raises(ConnectionError):
            await pending
        assert client.closed and client.ended_by.startswith("ERROR reserved opcode")
        assert client.lost_replies == 1
        await client.wait_closed()
        with pytest.raises(ConnectionError):
            await client.request("ping")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a self-signed certificate for localhost, and a
    client context that trusts it."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make a certificate")
    where: Path = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(where / "key.pem"), "-out", str(where / "cert.pem")],
                   check=True, capture_output=True)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(where / "cert.pem", where / "key.pem")
    client = ssl.create_default_context(cafile=str(where / "cert.pem"))
    return server, client


async def test_wss_checks_the_servers_name_and_carries_frames(
        peer: Peer, tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_tls, client_tls = tls
    port = await peer.start(server_tls)
    got = Received()
    sock = await open_socket(f"https://localhost:{port}/ws", got.message, ssl=client_tls)
    await peer.send(server_frame(0x1, b"secret"))
    await eventually(lambda: got.messages == [b"secret"])
    sock.close()
    with pytest.raises(ssl.SSLCertVerificationError):
        await open_socket(f"wss://127.0.0.1:{port}/ws", got.message, ssl=client_tls)
