"""BackgroundTask.stop: a task's own unwinding (a ROLLBACK on the way out) is
not cut short, and a task that drops a cancellation is still stopped."""

from __future__ import annotations

import asyncio

from seatserver.background import BackgroundTask
from seatserver.db import create_pool


async def test_stop_lets_the_unwinding_finish_before_cancelling_again() -> None:
    unwound = asyncio.Event()

    async def run() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0.3)  # a slow ROLLBACK on a loaded machine
            unwound.set()

    task = BackgroundTask("slow unwinding", run)
    task.start()
    await asyncio.sleep(0)
    await task.stop()
    assert unwound.is_set()


async def test_stop_ends_a_task_that_drops_a_cancellation() -> None:
    dropped = 0

    async def run() -> None:
        nonlocal dropped
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if dropped:
                    raise
                dropped += 1  # as asyncio.wait_for does on 3.11 when its step just finished

    task = BackgroundTask("deaf", run)
    task.start()
    await asyncio.sleep(0)
    await asyncio.wait_for(task.stop(), 5)
    assert not task.running
    assert dropped == 1


async def test_a_task_stopped_inside_a_transaction_rolls_back_cleanly(
        database_url: str) -> None:
    """The transaction's ROLLBACK runs to its end: the connection goes back
    to the pool without asyncpg's "active transaction" complaint."""
    complaints: list[str] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: complaints.append(context["message"]))
    pool = await create_pool(database_url, 1)
    inside = asyncio.Event()

    async def run() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT 1")
            inside.set()
            await conn.execute("SELECT pg_sleep(3600)")

    task = BackgroundTask("in a transaction", run)
    try:
        task.start()
        await inside.wait()
        await asyncio.sleep(0.05)  # the sleep is on the server
        await task.stop()
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT 1") == 1
    finally:
        await pool.close()
        loop.set_exception_handler(None)
    assert complaints == []
