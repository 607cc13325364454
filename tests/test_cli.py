"""The ``seatserver`` command, run as a real process."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from seatserver.cli import _SigtermExits
from seatserver.ports import free_port
from tests import forked

URL_VARS = ("REDIS_URL", "DATABASE_URL", "TEST_REDIS_URL", "TEST_DATABASE_URL",
            "SEATSERVER_PORT", "SEATSERVER_HOST", "SEATSERVER_WORKER",
            "SEATSERVER_PUBLIC_URL", "SEATSERVER_PAYMENT_SECRET", "SEATSERVER_TICKET_SECRET")


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in URL_VARS}
    return env | extra


def seatserver(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The command's answer, forked from a warm seatserver (tests/forked.py):
    ``main()`` as ``python -m seatserver`` runs it, without its imports' second.
    (The serve tests below start the real command as a process of its own.)"""
    return forked.run(list(args), environment(**env), timeout=60)


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


def test_serve_with_a_malformed_public_url_or_a_weak_key_says_what_is_wrong(
        database_url: str) -> None:
    for setting, value in (("SEATSERVER_PUBLIC_URL", "https://shop.example/path"),
                           ("SEATSERVER_PUBLIC_URL", "http://exa_mple.com:99999"),
                           ("SEATSERVER_PAYMENT_SECRET", "changeme")):
        result = seatserver("serve", DATABASE_URL=database_url, REDIS_URL="redis://x",
                            **{setting: value})
        assert result.returncode == 2, result.stderr
        assert setting in result.stderr and "Traceback" not in result.stderr


def _keys(result: subprocess.CompletedProcess[str]) -> dict[tuple[str, int], tuple[str, str]]:
    assert result.returncode == 0, result.stderr
    found = {}
    for line in result.stdout.splitlines():
        name, version, state, key = line.split("\t")
        assert len(key) == 64 and int(key, 16) >= 0
        found[name, int(version)] = (state, key)
    return found


def test_secrets_show_then_rotate_keeps_the_replaced_key_for_the_grace(
        fresh_database_url: str) -> None:
    assert seatserver("migrate", DATABASE_URL=fresh_database_url).returncode == 0
    first = _keys(seatserver("secrets", "show", DATABASE_URL=fresh_database_url))
    assert sorted(first) == [("payment", 1), ("ticket", 1)]
    assert {state for state, _ in first.values()} == {"current"}
    assert _keys(seatserver("secrets", "show", DATABASE_URL=fresh_database_url)) == first

    rotated = seatserver("secrets", "rotate", "ticket", "--grace", "3600",
                         DATABASE_URL=fresh_database_url)
    after = _keys(rotated)
    assert "rotated ticket: version 2" in rotated.stderr
    assert after["payment", 1] == first["payment", 1]
    assert after["ticket", 2][0] == "current" and after["ticket", 2][1] != first["ticket", 1][1]
    assert after["ticket", 1][0].startswith("valid-until=")
    assert after["ticket", 1][1] == first["ticket", 1][1]

    # After a leak: no grace; the key replaced is gone at once, older ones keep theirs.
    now = _keys(seatserver("secrets", "rotate", "--grace", "0",
                           DATABASE_URL=fresh_database_url))
    assert sorted(now) == [("payment", 2), ("ticket", 1), ("ticket", 3)]
    overridden = seatserver("secrets", "show", DATABASE_URL=fresh_database_url,
                            SEATSERVER_TICKET_SECRET="t" * 40)
    assert "current,overridden-by-environment" in overridden.stdout


def test_secrets_refuses_unknown_keys_a_bad_grace_and_no_database(
        fresh_database_url: str) -> None:
    assert seatserver("migrate", DATABASE_URL=fresh_database_url).returncode == 0
    for args in (("rotate", "door"), ("rotate", "--grace", "-1"), ("rotate", "ticket\x01")):
        result = seatserver("secrets", *args, DATABASE_URL=fresh_database_url)
        assert result.returncode == 2 and "Traceback" not in result.stderr, args
    assert seatserver("secrets", "show").returncode == 2
    assert seatserver("secrets").returncode == 2


def test_keys_and_import_without_a_reachable_database_say_so_in_one_line(
        tmp_path: Path) -> None:
    down = f"postgresql://nobody@127.0.0.1:{free_port()}/seatserver"
    movies = tmp_path / "movies.csv"
    movies.write_text("slug,title,runtime_min\nnorthern-lights,Northern Lights,90\n")
    for args in (("keys", "status"), ("keys", "rotate"), ("import", "movies", str(movies)),
                 ("migrate",)):
        result = seatserver(*args, DATABASE_URL=down)
        assert result.returncode == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr and "cannot reach the database" in (
            result.stderr), (args, result.stderr)
    for batch in ("0", "9" * 20):
        result = seatserver("keys", "rotate", "--batch", batch, DATABASE_URL=down)
        assert result.returncode == 2 and "--batch must be 1 to 100000" in result.stderr


def test_commands_before_migrate_or_without_redis_say_so_in_one_line(
        fresh_database_url: str) -> None:
    redis_down = f"redis://127.0.0.1:{free_port()}/0"
    for args in (("reconcile",), ("keys", "status"), ("seed", "--demo"), ("secrets", "show")):
        result = seatserver(*args, DATABASE_URL=fresh_database_url, REDIS_URL=redis_down)
        assert result.returncode == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr and "run `seatserver migrate`" in (
            result.stderr), (args, result.stderr)
    assert seatserver("migrate", DATABASE_URL=fresh_database_url).returncode == 0
    result = seatserver("reconcile", DATABASE_URL=fresh_database_url, REDIS_URL=redis_down)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "check REDIS_URL" in result.stderr, result.stderr


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


def ports_in_a_row(count: int) -> int:
    """The first of ``count`` consecutive ports that are free now."""
    while True:
        first = free_port()
        sockets = []
        try:
            for port in range(first, first + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()


PROCESS_LINE = re.compile(r'^seatserver_process\{pid="(\d+)",worker="(\d+)"\} 1\.0$', re.M)


def answering_process(url: str, within: float = 30.0) -> tuple[int, int]:
    """(pid, worker index) of the process that answered /metrics at ``url``
    (a worker may start listening after its sibling)."""
    deadline = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                found = PROCESS_LINE.search(resp.read().decode())
            break
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert found is not None
    return int(found[1]), int(found[2])


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_with_embedded_services_answers_and_sigterm_leaves_no_process(
        tmp_path: Path, server_data_dir: Path, workers: int) -> None:
    port = free_port()
    metrics_port = ports_in_a_row(workers)
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log, subprocess.Popen(
        [sys.executable, "-m", "seatserver", "serve", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers)],
        env=environment(SEATSERVER_DATA_DIR=str(server_data_dir),
                        SEATSERVER_METRICS_PORT=str(metrics_port)),
        stdout=subprocess.PIPE, stderr=log, text=True,
    ) as proc:
        try:
            showtimes = wait_for_http(proc, f"http://127.0.0.1:{port}/api/showtimes")
            assert proc.stdout is not None
            # The parent announces once it sees the port answer, maybe after us.
            announced = proc.stdout.readline()
            children = psutil.Process(proc.pid).children(recursive=True)
            names = " ".join(" ".join(c.cmdline()) for c in children)
            # Each process's metrics port answers for that process alone, every time.
            serving = {c.pid for c in children if "-m seatserver serve" in " ".join(c.cmdline())}
            answered = {i: {answering_process(f"http://127.0.0.1:{metrics_port + i}/metrics")
                            for _ in range(5)} for i in range(workers)}
            shared = {answering_process(f"http://127.0.0.1:{port}/metrics")[0]
                      for _ in range(10)}

            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, log_path.read_text()

    assert isinstance(showtimes, list) and showtimes
    assert "redis-server" in names and "postgres" in names
    assert names.count("-m seatserver serve") == (workers if workers > 1 else 0)
    serving = serving or {proc.pid}  # one process: serve itself
    assert all(len(seen) == 1 for seen in answered.values()), answered
    assert {index for seen in answered.values() for _, index in seen} == set(answered)
    assert {pid for seen in answered.values() for pid, _ in seen} == serving
    assert all(index == i for i, seen in answered.items() for _, index in seen)
    assert shared <= serving
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
    # The public URL by default: where the provider sends buyers back.
    assert f"http://127.0.0.1:{port}/showtimes/{showtimes[0]['id']}" in announced


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


def wait_for_log(path: Path, line: str, within_s: float = 30) -> None:
    deadline = time.monotonic() + within_s
    while line not in path.read_text():
        assert time.monotonic() < deadline, path.read_text()
        time.sleep(0.01)


def test_a_second_sigterm_during_the_shutdown_is_logged_not_a_traceback(
        tmp_path: Path, server_data_dir: Path) -> None:
    """An orchestrator or an operator signals twice: the shutdown already
    under way runs to its end, and the log says so without a traceback."""
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log, subprocess.Popen(
        [sys.executable, "-m", "seatserver", "serve", "--host", "127.0.0.1",
         "--port", str(port)],
        env=environment(SEATSERVER_DATA_DIR=str(server_data_dir), SEATSERVER_LOG_FORMAT="text"),
        stdout=subprocess.DEVNULL, stderr=log, text=True,
    ) as proc:
        try:
            wait_for_http(proc, f"http://127.0.0.1:{port}/api/showtimes")
            # A request whose body is not all there yet: the shutdown waits for
            # its handler, so it is surely still under way at the second signal
            # (a crowded machine could let a quick one end before it was sent).
            with socket.create_connection(("127.0.0.1", port)) as pending:
                pending.sendall(b"POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                b"Content-Type: application/json\r\n"
                                b"Content-Length: 100\r\n\r\n{")
                # Answered after the bytes above were read: that handler has begun.
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/showtimes",
                                       timeout=30).close()
                proc.send_signal(signal.SIGTERM)
                wait_for_log(log_path, "shutting down")
                proc.send_signal(signal.SIGTERM)
                wait_for_log(log_path, "SIGTERM: already shutting down")
            # Hung up: the handler's read fails, and the shutdown goes on.
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    text = log_path.read_text()
    assert proc.returncode == 0, text
    assert "SIGTERM: already shutting down" in text
    assert "Traceback" not in text and "failed to stop" not in text, text
    # The buyer who hung up mid-body is not the database failing.
    assert "database unavailable" not in text, text


def test_sigterm_outside_the_loop_unwinds_until_the_shutdown_is_under_way(
        caplog: pytest.LogCaptureFixture) -> None:
    """Starting or migrating, SIGTERM unwinds (the embedded servers get
    stopped); once the shutdown is under way, even after the app's loop has
    handed the signal back, a further one is logged and the stop runs on."""
    before = signal.getsignal(signal.SIGTERM)
    with _SigtermExits() as sigterm:
        with pytest.raises(SystemExit) as exited:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # the handler runs between bytecodes: here
        assert exited.value.code == 128 + signal.SIGTERM
        os.kill(os.getpid(), signal.SIGTERM)  # the stop under way: logged only
        time.sleep(0.01)
    assert caplog.messages == ["SIGTERM: already shutting down"]
    with _SigtermExits() as sigterm:
        sigterm.stop_requested()  # the app's loop took the first signal
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)
    assert caplog.messages[-1] == "SIGTERM: already shutting down"
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_metrics_port_in_use_stops_serve_with_one_line(
        redis_url: str, database_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = seatserver("serve", "--host", "127.0.0.1", "--port", str(free_port()),
                            REDIS_URL=redis_url, DATABASE_URL=database_url,
                            SEATSERVER_METRICS_PORT=str(port), SEATSERVER_LOG_FORMAT="text")
    assert result.returncode == 1, result.stderr
    assert f"cannot listen: [Errno 98] metrics port 127.0.0.1:{port} (SEATSERVER_METRICS_PORT)" \
        in result.stderr
    assert "Traceback" not in result.stderr
