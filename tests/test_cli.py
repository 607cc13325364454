"""The ``seatserver`` command, run as a real process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

URL_VARS = ("REDIS_URL", "DATABASE_URL", "TEST_REDIS_URL", "TEST_DATABASE_URL",
            "SEATSERVER_PORT", "SEATSERVER_HOST", "SEATSERVER_WORKER")


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in URL_VARS}
    return env | extra


def seatserver(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "seatserver", *args], env=environment(**env),
                          capture_output=True, text=True, timeout=60, check=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_migrate_applies_once_then_reports_up_to_date(fresh_database_url: str) -> None:
    first = seatserver("migrate", DATABASE_URL=fresh_database_url)
    second = seatserver("migrate", DATABASE_URL=fresh_database_url)

    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert "0001_core.sql" in first.stdout
    assert "up to date" in second.stdout


def test_seed_demo_twice_names_the_same_showtimes(database_url: str) -> None:
    first = seatserver("seed", "--demo", DATABASE_URL=database_url)
    second = seatserver("seed", "--demo", DATABASE_URL=database_url)

    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert first.stdout.startswith("demo showtimes: ")
    # The first line; the staff accounts' lines follow (tests/accounts/test_seed.py).
    assert first.stdout.splitlines()[0] == second.stdout.splitlines()[0]


def test_seed_without_what_to_seed_is_a_usage_error(database_url: str) -> None:
    result = seatserver("seed", DATABASE_URL=database_url)

    assert result.returncode == 2
    assert "--demo" in result.stderr


def test_migrate_without_database_url_says_what_to_set() -> None:
    result = seatserver("migrate")

    assert result.returncode == 2
    assert "DATABASE_URL is not set" in result.stderr


def test_serve_with_only_one_url_is_refused(database_url: str) -> None:
    result = seatserver("serve", DATABASE_URL=database_url)

    assert result.returncode == 2
    assert "both REDIS_URL and DATABASE_URL" in result.stderr


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as resp:
        assert resp.status == 200
        return json.load(resp)


def wait_for_http(proc: subprocess.Popen[str], url: str, timeout: float = 60.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited with {proc.returncode} before answering")
        try:
            return get_json(url)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_with_embedded_services_answers_and_sigterm_leaves_no_process(
        tmp_path: Path, server_data_dir: Path, workers: int) -> None:
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log, subprocess.Popen(
        [sys.executable, "-m", "seatserver", "serve", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers)],
        env=environment(SEATSERVER_DATA_DIR=str(server_data_dir)),
        stdout=subprocess.PIPE, stderr=log, text=True,
    ) as proc:
        try:
            showtimes = wait_for_http(proc, f"http://127.0.0.1:{port}/api/showtimes")
            assert proc.stdout is not None
            # The parent announces once it sees the port answer, maybe after us.
            announced = proc.stdout.readline()
            children = psutil.Process(proc.pid).children(recursive=True)
            names = " ".join(" ".join(c.cmdline()) for c in children)

            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, log_path.read_text()

    assert isinstance(showtimes, list) and showtimes
    assert "redis-server" in names and "postgres" in names
    assert names.count("-m seatserver serve") == (workers if workers > 1 else 0)
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
    assert f"http://localhost:{port}/showtimes/{showtimes[0]['id']}" in announced


def test_a_worker_that_dies_stops_the_rest_and_fails_the_command(
        tmp_path: Path, server_data_dir: Path) -> None:
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log, subprocess.Popen(
        [sys.executable, "-m", "seatserver", "serve", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "2"],
        env=environment(SEATSERVER_DATA_DIR=str(server_data_dir)),
        stdout=subprocess.DEVNULL, stderr=log, text=True,
    ) as proc:
        try:
            wait_for_http(proc, f"http://127.0.0.1:{port}/api/showtimes")
            children = psutil.Process(proc.pid).children(recursive=True)
            worker = next(c for c in children if "-m seatserver serve" in " ".join(c.cmdline()))

            worker.kill()
            assert proc.wait(60) == 1
        finally:
            if proc.poll() is None:
                proc.kill()

    assert f"worker {worker.pid} exited" in log_path.read_text()
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
