"""``seatserver`` processes forked from a warm one, for tests that start many.

A test server started as ``python -m seatserver serve`` spends ~0.8 s of its
~0.9 s start importing (aiohttp, redis, pydantic and our ~150 modules), and the
suite starts a few hundred of them. So each test process keeps one *zygote*: a
``python -m tests.forked`` that has imported ``seatserver.cli`` once and forks a
child per server. The child sets the environment it was given, points fds 1 and
2 at the caller's log file and runs ``seatserver.cli.main(argv)``: the code of
``python -m seatserver`` after its imports, so what the tests check (answers,
logs, signals, exit status) is the real command's.

The zygote imports only; it starts no thread and no event loop (it checks), so
forking it is safe. It reaps its children and tells their exit status, as
``subprocess.Popen`` would (negative: killed by that signal). When the test
process goes away (its end of the socket closes), the zygote kills the children
still running and exits.

``spawn`` falls back to a plain ``subprocess.Popen`` when a child's interpreter
settings (``PYTHON*``, ``LD_PRELOAD``) differ from the zygote's: those act at
interpreter start, which a fork skips.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import IO, Any

_INTERPRETER = ("PYTHON", "LD_PRELOAD", "LD_LIBRARY_PATH")
_ROOT = Path(__file__).resolve().parent.parent
_MAX_MESSAGE = 1 << 20


class ForkedProcess:
    """The part of ``subprocess.Popen`` the tests use, for a zygote's child."""

    def __init__(self, zygote: Zygote, pid: int) -> None:
        self._zygote = zygote
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._zygote.status(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"seatserver (pid {self.pid})", timeout or 0)
            time.sleep(0.02)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Zygote:
    """The test process's side: starts the zygote, asks it to fork, asks for statuses."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock = ours
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.forked", str(theirs.fileno())], env=env,
            cwd=_ROOT, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        theirs.close()
        ready = self._ask({"op": "ready"})
        if not ready.get("ok"):
            raise RuntimeError(f"the seatserver zygote did not start: {ready}")

    def fits(self, env: dict[str, str]) -> bool:
        """Whether a child with ``env`` may be forked rather than started afresh."""
        def interpreter(e: dict[str, str]) -> dict[str, str]:
            return {k: v for k, v in e.items() if k.startswith(_INTERPRETER)}
        return self.proc.poll() is None and interpreter(env) == interpreter(self.env)

    def spawn(self, argv: list[str], env: dict[str, str], output: IO[bytes],
              errors: IO[bytes] | None = None) -> ForkedProcess:
        outputs = [output.fileno()] if errors is None else [output.fileno(), errors.fileno()]
        reply = self._ask({"op": "spawn", "argv": argv, "env": env, "cwd": os.getcwd()},
                          fds=outputs)
        return ForkedProcess(self, int(reply["pid"]))

    def status(self, pid: int) -> int | None:
        code = self._ask({"op": "status", "pid": pid})["status"]
        return None if code is None else int(code)

    def close(self) -> None:
        self._sock.close()  # the zygote kills what still runs, then exits
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def _ask(self, message: dict[str, Any], fds: list[int] | None = None) -> dict[str, Any]:
        data = json.dumps(message).encode()
        with self._lock:
            if fds:
                socket.send_fds(self._sock, [data], fds)
            else:
                self._sock.sendall(data)
            reply = self._sock.recv(_MAX_MESSAGE)
        if not reply:
            raise RuntimeError("the seatserver zygote is gone")
        answer: dict[str, Any] = json.loads(reply)
        if "error" in answer:
            raise RuntimeError(f"the seatserver zygote: {answer['error']}")
        return answer


_zygote: Zygote | None = None
_zygote_lock = threading.Lock()


Process = ForkedProcess | subprocess.Popen[bytes]


def spawn(argv: list[str], env: dict[str, str], output: IO[bytes],
          errors: IO[bytes] | None = None) -> Process:
    """``python -m seatserver *argv`` with ``env``, stdout to ``output`` and
    stderr to ``errors`` (to ``output`` too when None)."""
    global _zygote
    with _zygote_lock:
        if _zygote is None or _zygote.proc.poll() is not None:
            base = {k: v for k, v in env.items() if k.startswith(_INTERPRETER)}
            _zygote = Zygote({k: v for k, v in os.environ.items()
                              if not k.startswith(_INTERPRETER)} | base)
        zygote = _zygote
    if zygote.fits(env):
        return zygote.spawn(argv, env, output, errors)
    return subprocess.Popen([sys.executable, "-m", "seatserver", *argv], env=env,
                            stdout=output, stderr=errors or subprocess.STDOUT)


def run(argv: list[str], env: dict[str, str], timeout: float, *, merge_errors: bool = False
        ) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(["python", "-m", "seatserver", *argv], ...)`` with
    output captured as text, forked: a command whose test checks its answer.
    ``merge_errors``: stderr goes into stdout, in the order written."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = spawn(argv, env, out, None if merge_errors else err)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            raise
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(
            ["seatserver", *argv], code, out.read().decode(errors="replace"),
            err.read().decode(errors="replace"))


def close() -> None:
    """Stop this process's zygote (and any child it still has)."""
    global _zygote
    with _zygote_lock:
        if _zygote is not None:
            _zygote.close()
            _zygote = None


# -- the zygote ---------------------------------------------------------------------


def _child(argv: list[str], env: dict[str, str], cwd: str, outputs: list[int]) -> None:
    """In the forked child: become ``python -m seatserver *argv``; never returns."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the zygote ignores it
        os.chdir(cwd)
        os.dup2(outputs[0], 1)
        os.dup2(outputs[-1], 2)
        for fd in outputs:
            os.close(fd)
        os.environ.clear()
        os.environ.update(env)
        sys.argv = [sys.argv[0], *argv]
        from seatserver.cli import main
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def _serve(sock: socket.socket) -> None:
    import seatserver.cli  # noqa: F401 - what every child would import first

    if threading.active_count() != 1:
        raise RuntimeError(f"threads before forking: {threading.enumerate()}")
    children: dict[int, int | None] = {}
    try:
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(sock, _MAX_MESSAGE, 4)
            except OSError:
                return
            if not data:
                return  # the test process closed its end, or is gone
            _reap(children)
            sock.sendall(json.dumps(_answer(sock, json.loads(data), fds, children)).encode())
    finally:
        for pid in [p for p, code in children.items() if code is None]:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def _reap(children: dict[int, int | None]) -> None:
    for pid in [p for p, code in children.items() if code is None]:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            children[pid] = os.waitstatus_to_exitcode(status)


def _answer(sock: socket.socket, message: dict[str, Any], fds: list[int],
            children: dict[int, int | None]) -> dict[str, Any]:
    if message["op"] == "ready":
        return {"ok": True}
    if message["op"] == "status":
        return {"status": children.get(message["pid"])}
    if message["op"] != "spawn":
        return {"error": f"unknown op {message['op']!r}"}
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        sock.close()
        _child(message["argv"], message["env"], message["cwd"], fds)
    for fd in fds:
        os.close(fd)
    children[pid] = None
    return {"pid": pid}


if __name__ == "__main__":
    # Ctrl-C reaches the whole process group: the test process ends us (EOF).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _serve(socket.socket(fileno=int(sys.argv[1])))
