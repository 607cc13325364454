"""The Stripe library's two ways to call Stripe, measured against the local
stand-in: its async client on aiohttp (what the adapter uses) and its
blocking client run in a bounded thread pool. Prints calls per second, the
CPU the event loop's thread spends per call, and how late a 1 ms ticker on
that loop runs meanwhile (p99 and worst).

    .venv/bin/python -m bench.stripe_client [calls] [concurrency]
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from queue import Queue

import aiohttp
import stripe
from aiohttp.test_utils import TestServer

from seatserver.bookings.stripe_gateway import stripe_client
from tests.bookings.stripe_standin import StripeStandIn

KEY = "sk_test_" + "bench000" * 3
SESSION = "cs_test_bench"
RATES = (None, 100.0)
THREADS = 8


async def _ticker(stop: asyncio.Event, late: list[float]) -> None:
    while not stop.is_set():
        due = time.perf_counter() + 0.001
        await asyncio.sleep(0.001)
        late.append(time.perf_counter() - due)


async def _run(name: str, call: Callable[[], Awaitable[object]], calls: int,
               concurrency: int, rate: float | None = None) -> None:
    """``calls`` calls, at most ``concurrency`` at once, as fast as they go or
    started at ``rate`` a second (a checkout rush, not a flood)."""
    stop, late = asyncio.Event(), [0.0]
    ticker = asyncio.create_task(_ticker(stop, late))
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await call()
    start, cpu = time.perf_counter(), time.thread_time()
    if rate is None:
        await asyncio.gather(*(one() for _ in range(calls)))
    else:
        started = []
        for _ in range(calls):
            started.append(asyncio.create_task(one()))
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*started)
    took, cpu = time.perf_counter() - start, time.thread_time() - cpu
    stop.set()
    await ticker
    late.sort()
    p99 = late[int(len(late) * 0.99)] * 1000
    name += "" if rate is None else f" @{rate:.0f}/s"
    print(f"{name:<40} {calls / took:6.0f} calls/s  loop thread CPU {cpu / calls * 1e6:5.0f} "
          f"us/call  ticker late p99 {p99:5.1f} ms, worst {late[-1] * 1000:5.1f} ms")


def _serve_standin(ready: Queue[str], stop: threading.Event) -> None:
    """The stand-in on a loop (and thread) of its own, so its work is not
    counted as a stall of the loop being measured."""
    async def serve() -> None:
        standin = StripeStandIn(api_key=KEY, webhook_secret="whsec_bench")
        server = TestServer(standin.app(), host="127.0.0.1")
        await server.start_server()
        standin.sessions[SESSION] = {
            "id": SESSION, "object": "checkout.session", "status": "open",
            "payment_status": "unpaid", "amount_total": 1250, "currency": "eur",
            "payment_intent": None}
        ready.put(str(server.make_url("/")).rstrip("/"))
        await asyncio.to_thread(stop.wait)
        await server.close()
    asyncio.run(serve())


async def main(calls: int, concurrency: int) -> None:
    ready: Queue[str] = Queue()
    stop = threading.Event()
    thread = threading.Thread(target=_serve_standin, args=(ready, stop))
    thread.start()
    base = ready.get()
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            client = stripe_client(http, secret_key=KEY, api_base=base, timeout_s=10)
            await client.v1.checkout.sessions.retrieve_async(SESSION)  # warm up
            for rate in RATES:
                await _run("async client (aiohttp)",
                           lambda: client.v1.checkout.sessions.retrieve_async(SESSION),
                           calls, concurrency, rate)
        blocking = stripe.StripeClient(KEY, base_addresses={"api": base})
        blocking.v1.checkout.sessions.retrieve(SESSION)
        loop = asyncio.get_running_loop()
        for rate in RATES:
            with ThreadPoolExecutor(max_workers=THREADS) as pool:
                await _run(f"blocking client, {THREADS} threads",
                           lambda: loop.run_in_executor(
                               pool, blocking.v1.checkout.sessions.retrieve, SESSION),
                           calls, concurrency, rate)
    finally:
        stop.set()
        thread.join()


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    asyncio.run(main(*(args + [1000, 20][len(args):])))
