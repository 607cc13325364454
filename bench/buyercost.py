"""Buyer cost: the load generator's CPU per update a simulated buyer receives.

``seatserver serve`` (one worker) with the benchmark's Redis and PostgreSQL.
Two client processes, each with ``--buyers`` SeatClients subscribed to one
showtime, as the load generator's buyers are (a ``Recorder`` takes each
update's delay): one on the lean socket (``loadgen.wire``, what SeatClient
uses), one on aiohttp's ``ws_connect`` (what it used before), so both see the
same updates at the same moments. A holder in this process holds and releases
seats at a steady rate. Each run, every client process reports its CPU time
(user + system, ``time.process_time``) and the updates its buyers received
over the same window; the figure is the ratio, the median of the runs. The
machine is shared and noisy: compare the two within a run.

    python -m bench.buyercost [--buyers 300] [--rate 20] [--runs 3] [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from typing import Any

import aiohttp
import orjson

from bench.processes import SeatServer
from bench.report import say
from bench.services import BenchServices, http_session, new_tokens, prepare
from bench.stats import median
from seatserver import loops
from seatserver.loadgen.client import SeatClient
from seatserver.loadgen.stats import Recorder
from seatserver.loadgen.wire import OnClose, OnMessage

SIDES = ("lean", "aiohttp")


class AiohttpSocket:
    """aiohttp's client behind the WireSocket calls SeatClient makes: a
    reader task per socket, as SeatClient had before ``loadgen.wire``."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, on_message: OnMessage,
                 on_close: OnClose) -> None:
        self._ws = ws
        self.closed = False
        self.failure = ""
        self._task = asyncio.create_task(self._read(on_message, on_close))

    async def _read(self, on_message: OnMessage, on_close: OnClose) -> None:
        async for msg in self._ws:
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                break
            data = msg.data if isinstance(msg.data, bytes) else msg.data.encode()
            on_message(self, data, time.time())  # type: ignore[arg-type]
        self.closed = True
        on_close(self)  # type: ignore[arg-type]

    def send(self, payload: bytes, opcode: int = 1) -> bool:
        if self.closed:
            return False
        coro = (self._ws.send_bytes(payload) if opcode == 2
                else self._ws.send_str(payload.decode()))
        asyncio.ensure_future(coro)  # noqa: RUF006 -- a benchmark's short-lived sends
        return True

    async def aclose(self) -> None:
        await self._ws.close()
        await asyncio.gather(self._task, return_exceptions=True)


class AiohttpSeatClient(SeatClient):
    async def connect(self) -> SeatClient:
        ws = await self._session.ws_connect(
            self._url, protocols=[self.codec.name], max_msg_size=0, compress=0,
            headers={"Authorization": f"Bearer {self.token}"})
        self.ws = AiohttpSocket(ws, self._on_message, self._on_close)  # type: ignore[assignment]
        return self


async def client_side(side: str, url: str, showtime: int, buyers: int) -> None:
    """The client process: ``buyers`` subscribed clients; on each line of
    stdin, the CPU time and updates since the last line."""
    recorder = Recorder()
    kind = SeatClient if side == "lean" else AiohttpSeatClient
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     cookie_jar=aiohttp.DummyCookieJar()) as http:
        tokens = await new_tokens(http, url, buyers)
        clients = [kind(http, url, t, delay_sink=recorder.fanout) for t in tokens]
        for client in clients:
            await client.connect()
            await client.subscribe(showtime)
        gc.collect()
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        print("ready", flush=True)
        while await reader.readline():
            updates = sum(v.updates for c in clients for v in c.views.values())
            print(orjson.dumps({"cpu_s": time.process_time(), "updates": updates}).decode(),
                  flush=True)
        for client in clients:
            await client.close()


class ClientProcess:
    def __init__(self, side: str) -> None:
        self.side = side
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self, url: str, showtime: int, buyers: int) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.buyercost", "--side", self.side, "--url", url,
            "--showtime", str(showtime), "--buyers", str(buyers),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert self._proc.stdout is not None
        line = await asyncio.wait_for(self._proc.stdout.readline(), 300)
        if line.strip() != b"ready":
            raise RuntimeError(f"{self.side} client did not start: {line!r}")

    async def sample(self) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdin and self._proc.stdout
        self._proc.stdin.write(b"\n")
        await self._proc.stdin.drain()
        reply: dict[str, Any] = orjson.loads(await self._proc.stdout.readline())
        return reply

    async def stop(self) -> None:
        if self._proc is not None and self._proc.stdin is not None:
            self._proc.stdin.close()
            try:
                await asyncio.wait_for(self._proc.wait(), 30)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()


async def drive(url: str, showtime: int, seats: list[str], rate: float, seconds: float) -> int:
    """Hold then release seats, ``rate`` commands a second; returns how many went."""
    async with http_session() as http:
        holder = await SeatClient(http, url, (await new_tokens(http, url, 1))[0]).connect()
        sent, start = 0, time.monotonic()
        pool = seats[:8]
        try:
            while time.monotonic() - start < seconds:
                seat = pool[(sent // 2) % len(pool)]
                if sent % 2 == 0:
                    await holder.hold(showtime, [seat])
                else:
                    await holder.release(showtime, [seat])
                sent += 1
                await asyncio.sleep(max(0.0, start + sent / rate - time.monotonic()))
        finally:
            await holder.close()
    return sent


async def measure(args: argparse.Namespace) -> None:
    say("buyercost: preparing Redis and PostgreSQL")
    services = await prepare()
    try:
        await _measure(services, args)
    finally:
        services.stop()


async def _measure(services: BenchServices, args: argparse.Namespace) -> None:
    server = SeatServer(services.redis_url, services.database_url)
    sides = [ClientProcess(side) for side in SIDES]
    figures: dict[str, list[float]] = {side: [] for side in SIDES}
    try:
        await server.start()
        showtime = services.showtimes[0]
        for side in sides:
            await side.start(server.url, showtime, args.buyers)
        for run in range(args.runs):
            before = [await side.sample() for side in sides]
            await drive(server.url, showtime, services.seats[showtime], args.rate, args.seconds)
            await asyncio.sleep(0.5)  # the last updates
            after = [await side.sample() for side in sides]
            line = []
            for side, b, a in zip(sides, before, after, strict=True):
                updates = a["updates"] - b["updates"]
                us = (a["cpu_s"] - b["cpu_s"]) * 1e6 / max(1, updates)
                figures[side.side].append(us)
                line.append(f"{side.side} {us:.1f} µs/update ({updates} updates)")
            say(f"  run {run + 1}: " + ", ".join(line))
    finally:
        for side in sides:
            await side.stop()
        await server.stop()
    lean, heavy = median(figures["lean"]), median(figures["aiohttp"])
    print(f"buyer CPU per update received, median of {args.runs} runs of {args.seconds:g} s, "
          f"{args.buyers} buyers a side, {args.rate:g} holds+releases/s:")
    print(f"  aiohttp ws_connect : {heavy:6.1f} µs")
    print(f"  lean (loadgen.wire): {lean:6.1f} µs   ({heavy / lean:.2f} times less)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buyers", type=int, default=300)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--showtime", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        # On the load generator's loop (uvloop), as its buyers are.
        loops.run(client_side(args.side, args.url, args.showtime, args.buyers))
    else:
        asyncio.run(measure(args))


if __name__ == "__main__":
    main()
