"""Buyers and kiosks whose connections are cut under them reconnect, resume
with ``since`` and lose or double no update: the audit's offset-order and
final-view checks hold them to it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.loadgen.test_run import finish, start, stores
from tests.processes import ServerProcess
from tests.support import CuttingProxy, eventually


async def test_connections_cut_under_the_clients_resume_without_losing_an_update(
        target: ServerProcess, showtime: int, redis_url: str, database_url: str,
        tmp_path: Path) -> None:
    proxy = await CuttingProxy(target.port).start()
    prefix = tmp_path / "cut"
    try:
        process = await start(
            "--url", proxy.url, "--clients", "20", "--duration", "6", "--think", "0.3",
            "--kiosks", "2", "--showtimes", str(showtime), "--arrival-rate", "0",
            "--report", str(prefix), *stores(redis_url, database_url))
        cuts = []
        for _ in range(2):
            # Everyone (back) in, clicking for a moment: then the network fails.
            await eventually(lambda: proxy.connections >= 22, within=20)
            await asyncio.sleep(1)
            cuts.append(proxy.cut())
        run = await finish(process, prefix)
    finally:
        await proxy.close()

    assert run.returncode == 0, run.stdout + run.stderr
    totals = run.report["totals"]
    # Most reconnects resume; a client with a reply in flight at the cut must
    # take a snapshot instead (more of them on a loaded machine: 24 of 32 resumed
    # on a quiet one, 17 under a loaded parallel test run).
    reconnects = totals["reconnect"]
    assert reconnects >= 20, totals
    assert totals["reconnect.resumed"] + totals.get("reconnect.snapshot", 0) == reconnects
    assert totals["reconnect.resumed"] >= max(8, reconnects // 3), totals
    assert run.check("protocol")["figures"] == {"order_violations": 0, "error_frames": 0}
    assert run.check("final_views")["figures"]["views_equal"] > 0
