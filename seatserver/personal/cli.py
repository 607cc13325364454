"""``seatserver keys``: the personal-data keys.

``keys rotate`` makes a new current data key (generated keys; with
configured keys, put the new one first in SEATSERVER_PERSONAL_DATA_KEYS and
restart the instances first, then run this), seals any value still in clear,
and re-seals every value under an older key, in batches, while the servers
run. Instances take a new stored key up within ``secret_refresh_s``: the
command waits that long before re-sealing anything (so every instance can
open what it re-seals), and passes a second time after another such wait for
values an instance sealed with the old key meanwhile; it ends when none is left.
Stopped half-way, it can simply be run again (``--no-new-key`` to only
finish the re-sealing). ``--retire`` then deletes the old data keys.
``keys status`` counts the values under each key.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from typing import Any

import asyncpg

from seatserver.personal.cipher import PersonalCipher
from seatserver.personal.keys import PersonalKeyStore
from seatserver.personal.rotation import count_stale, reseal, seal_clear_values
from seatserver.personal.setup import personal_keys
from seatserver.settings import Settings

# Rows re-sealed per transaction at most: a batch holds its rows' locks.
MAX_BATCH = 100_000


def add_parser(commands: Any) -> None:
    keys = commands.add_parser("keys", help="the keys of personal data at rest")
    keys_do = keys.add_subparsers(dest="keys_command", required=True)
    keys_do.add_parser("status", help="the current key and how many values are on older ones")
    rotate = keys_do.add_parser("rotate", help="a new current key, and every value "
                                "re-sealed under it in batches (safe while serving)")
    rotate.add_argument("--no-new-key", action="store_true",
                        help="only re-seal values on older keys (resume a rotation, or "
                             "after putting a new configured key first)")
    rotate.add_argument("--batch", type=int, default=500, help="rows per transaction")
    rotate.add_argument("--retire", action="store_true",
                        help="delete the older data keys once no value uses them")


class _Lines:
    """Progress as plain lines (not on a terminal, or as the fallback)."""

    def __init__(self, total: int) -> None:
        self._total = max(total, 1)
        self._done = 0

    def __call__(self, field: str, done: int) -> None:
        self._done += done
        print(f"{field}: {done} re-sealed ({self._done}/{self._total})", file=sys.stderr)

    def __enter__(self) -> Callable[[str, int], None]:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class _Bar:
    """A rich progress bar on a terminal."""

    def __init__(self, total: int) -> None:
        from rich.progress import Progress

        self._progress = Progress(transient=False)
        self._task = self._progress.add_task("re-sealing personal data", total=max(total, 1))

    def __call__(self, field: str, done: int) -> None:
        self._progress.update(self._task, advance=done, description=field)

    def __enter__(self) -> Callable[[str, int], None]:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()


def _progress(total: int) -> _Lines | _Bar:
    if sys.stderr.isatty():
        try:
            return _Bar(total)
        except ImportError:
            pass
    return _Lines(total)


async def run(settings: Settings, dsn: str, args: argparse.Namespace) -> int:
    if not 1 <= getattr(args, "batch", 1) <= MAX_BATCH:
        print(f"--batch must be 1 to {MAX_BATCH}", file=sys.stderr)
        return 2
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        keys = personal_keys(settings, pool)
        await keys.prepare()
        store = keys.store
        if args.keys_command == "status":
            stale = await count_stale(pool, keys.cipher.current)
            print(f"current key: {keys.cipher.current}")
            for field, count in stale.items():
                print(f"{field}\t{count} on older keys")
            return 0
        if store is not None and not args.no_new_key:
            key_id = await store.rotate()
            print(f"new current key {key_id}: servers seal with it within "
                  f"{settings.secret_refresh_s:g} s", file=sys.stderr)
            await keys.load()
            # Nothing is re-sealed before every server has loaded the new key:
            # a server that has not could not open the values sealed with it.
            await asyncio.sleep(settings.secret_refresh_s + 1.0)
        return await _reseal_all(settings, pool, keys.cipher, store, args)
    finally:
        await pool.close()


async def _reseal_all(settings: Settings, pool: asyncpg.Pool, cipher: PersonalCipher,
                      store: PersonalKeyStore | None, args: argparse.Namespace) -> int:
    current = cipher.current
    sealed = await seal_clear_values(pool, cipher, batch=args.batch)
    if sealed:
        print(f"sealed {sealed} values that were still in clear", file=sys.stderr)
    # A second pass after the servers' reload interval: for values a server
    # that had not yet seen the new key sealed with the old one meanwhile.
    for wait in (0.0, settings.secret_refresh_s + 1.0):
        await asyncio.sleep(wait)
        total = sum((await count_stale(pool, current)).values())
        with _progress(total) as progress:
            await reseal(pool, cipher, batch=args.batch, progress=progress)
    left = await count_stale(pool, current)
    if any(left.values()):
        print(f"values still on older keys: {left}; run `seatserver keys rotate "
              "--no-new-key` again", file=sys.stderr)
        return 1
    print(f"every value is sealed with {current}", file=sys.stderr)
    if args.retire and store is not None:
        retired = await store.retire()
        print(f"retired keys: {', '.join(retired) or 'none'}", file=sys.stderr)
    return 0
