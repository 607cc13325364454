"""CPU caps for server processes: a kernel quota per process (Linux cgroups).

On a 2-core machine the load processes and Redis need most of a core to drive
two server workers, so ``serve --workers 2`` cannot show what a second process
brings when there are cores for it (see the holds benchmark). Capping each
server process at a fraction of a core leaves the rest of the machine to the
load, Redis and the kernel, and then asks whether N processes do N times one
process's work. Each capped process gets a cgroup of its own with a CFS quota
of ``cores`` x a short period (10 ms, so a capped process is throttled often
and briefly rather than stopped for long stretches).

Needs a writable cgroup CPU controller (v2's ``cpu.max`` or v1's
``cpu.cfs_quota_us``): root on these machines. ``available()`` says whether
the figure can be measured here; the benchmark reports it as not measured
otherwise.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

PERIOD_US = 10_000
_V2 = Path("/sys/fs/cgroup")
_V1 = Path("/sys/fs/cgroup/cpu")


def _root() -> tuple[Path, bool] | None:
    """The cgroup directory to make caps under, and whether it is cgroup v2."""
    controllers = _V2 / "cgroup.controllers"
    if controllers.exists() and "cpu" in controllers.read_text().split():
        return _V2, True
    if (_V1 / "cpu.cfs_quota_us").exists():
        return _V1, False
    return None


def available() -> bool:
    root = _root()
    return root is not None and os.access(root[0], os.W_OK)


@contextlib.contextmanager
def capped(pids: list[int], cores: float) -> Iterator[None]:
    """Each of ``pids`` limited to ``cores`` of CPU time while inside."""
    found = _root()
    if found is None:
        raise RuntimeError("no cgroup CPU controller on this machine")
    root, v2 = found
    quota = max(1000, int(cores * PERIOD_US))
    groups: list[Path] = []
    try:
        for pid in pids:
            group = root / f"seatserver-bench-{os.getpid()}-{pid}"
            group.mkdir(exist_ok=True)
            groups.append(group)
            if v2:
                (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            else:
                (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (group / "cpu.cfs_quota_us").write_text(str(quota))
            (group / "cgroup.procs").write_text(str(pid))
        yield
    finally:
        for group in groups:
            for pid in (group / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):  # gone meanwhile
                    (root / "cgroup.procs").write_text(pid)
            group.rmdir()
