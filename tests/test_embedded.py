"""The embedded servers, each test with its own data folder (they run as root here)."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psutil
import pytest
import redis

from seatserver.embedded import PG_SHARED_ROOT, EmbeddedError, EmbeddedServices
from tests.services import run_sync


@pytest.fixture
def data_dir(server_data_dir: Path) -> Path:
    return server_data_dir


@pytest.fixture
def embedded(data_dir: Path) -> Iterator[EmbeddedServices]:
    embedded = EmbeddedServices(data_dir)
    yield embedded
    embedded.stop()


def process_tree(pids: list[int]) -> list[psutil.Process]:
    procs = [psutil.Process(pid) for pid in pids]
    return procs + [c for p in procs for c in p.children(recursive=True)]


def gone(procs: list[psutil.Process]) -> bool:
    return not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in procs)


async def pg_roundtrip(dsn: str, value: str | None = None) -> str | None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS kept (v text)")
        if value is not None:
            await conn.execute("INSERT INTO kept VALUES ($1)", value)
        found: str | None = await conn.fetchval("SELECT v FROM kept LIMIT 1")
        return found
    finally:
        await conn.close()


def test_start_serves_redis_and_a_seatserver_database(embedded: EmbeddedServices) -> None:
    redis_url, database_url = embedded.start()

    with redis.Redis.from_url(redis_url) as client:
        assert client.ping()
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
    assert database_url.endswith("/seatserver")
    assert run_sync(pg_roundtrip(database_url)) is None


def test_stop_leaves_no_server_process(embedded: EmbeddedServices) -> None:
    embedded.start()
    procs = process_tree(embedded.pids)
    assert len(procs) > 2  # PostgreSQL's own helper processes too

    embedded.stop()

    assert gone(procs)


def test_data_survives_a_stop_and_a_second_start(
        embedded: EmbeddedServices, data_dir: Path) -> None:
    redis_url, database_url = embedded.start()
    with redis.Redis.from_url(redis_url) as client:
        client.set("kept", "yes")
    run_sync(pg_roundtrip(database_url, "yes"))
    embedded.stop()

    with EmbeddedServices(data_dir) as again:
        with redis.Redis.from_url(again.redis_url) as client:
            assert client.get("kept") == b"yes"
        assert run_sync(pg_roundtrip(again.database_url)) == "yes"


def test_redis_writes_survive_a_crash(embedded: EmbeddedServices, data_dir: Path) -> None:
    redis_url, _ = embedded.start()
    with redis.Redis.from_url(redis_url) as client:
        client.set("held", "A1")
    time.sleep(1.5)  # appendfsync everysec
    os.kill(embedded.pids[0], signal.SIGKILL)
    embedded.stop()

    with EmbeddedServices(data_dir) as again, redis.Redis.from_url(again.redis_url) as client:
        assert client.get("held") == b"A1"


def test_stale_postmaster_pid_from_a_crash_does_not_block_the_start(
        embedded: EmbeddedServices, data_dir: Path) -> None:
    embedded.start()
    embedded.stop()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (embedded.pgdata / "postmaster.pid").write_text(f"{dead.pid}\n{embedded.pgdata}\n")

    with EmbeddedServices(data_dir) as again:
        assert run_sync(pg_roundtrip(again.database_url)) is None


def test_failed_start_reports_the_server_log_and_leaves_nothing_running(
        embedded: EmbeddedServices, data_dir: Path) -> None:
    embedded.start()
    embedded.stop()
    with (embedded.pgdata / "postgresql.conf").open("a") as conf:
        conf.write("this is not a setting\n")

    broken = EmbeddedServices(data_dir)
    with pytest.raises(EmbeddedError, match="syntax error") as failure:
        broken.start()

    assert "postgres.log" in str(failure.value)
    assert broken.pids == []
    with pytest.raises(RuntimeError, match="not started"):
        _ = broken.redis_url


def test_second_owner_of_a_data_dir_is_refused(
        embedded: EmbeddedServices, data_dir: Path) -> None:
    embedded.start()

    with pytest.raises(EmbeddedError, match="in use"):
        EmbeddedServices(data_dir).start()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root needs another user")
def test_postgres_runs_as_an_unprivileged_user_under_root(embedded: EmbeddedServices) -> None:
    embedded.start()

    postgres = psutil.Process(embedded.pids[1])
    assert postgres.uids().real != 0


def _modes(path: Path) -> dict[Path, int]:
    return {p: p.stat().st_mode for p in (path, *path.parents)}


def test_starts_in_a_private_folder_without_opening_its_parents(server_data_dir: Path) -> None:
    """As root (CI is), PostgreSQL runs as a system user that cannot enter a 0700
    folder such as root's home: its programs and data go where it can, and no
    folder that is not ours changes mode (the old code made them all a+x)."""
    private = Path(tempfile.mkdtemp(prefix="seatserver-private-"))
    try:
        private.chmod(0o700)
        data_dir = private / "checkout" / ".data"
        before = _modes(private)
        embedded = EmbeddedServices(data_dir)
        try:
            _, database_url = embedded.start()
            assert run_sync(pg_roundtrip(database_url, "kept")) == "kept"
            assert _modes(private) == before
            pgdata = embedded.pgdata
            postgres = psutil.Process(embedded.pids[1])
            if os.geteuid() == 0:
                assert PG_SHARED_ROOT in pgdata.parents
                assert pgdata.stat().st_uid == postgres.uids().real != 0
                assert stat.S_IMODE(pgdata.stat().st_mode) == 0o700
                assert PG_SHARED_ROOT in Path(postgres.exe()).parents
        finally:
            embedded.stop()

        again = EmbeddedServices(data_dir)  # the same data dir finds its cluster again
        try:
            _, database_url = again.start()
            assert run_sync(pg_roundtrip(database_url)) == "kept"
            assert again.pgdata == pgdata
        finally:
            again.stop()
        assert _modes(private) == before
    finally:
        shutil.rmtree(private)

    other = EmbeddedServices(server_data_dir)
    try:
        other.start()  # a later start removes the cluster of a data dir that is gone
        assert not pgdata.exists()
    finally:
        other.stop()
