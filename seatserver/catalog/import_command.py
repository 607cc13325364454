"""``seatserver import movies FILE [--dry-run]``: the import from a terminal.

Progress is a rich bar on a terminal and plain lines otherwise (a log, CI),
for checking and for writing; then the report: created, updated, unchanged
and every error by line. Exit status 0 when the file imported (or would, in
a dry run), 2 when it has errors or cannot be read; a file with errors
imports nothing, as the admin upload.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from seatserver.catalog.import_store import ImportOutcome, MovieImportStore
from seatserver.catalog.imports import ImportFileError, ImportRow, check_file, format_of
from seatserver.db import create_pool
from seatserver.errors import CodedError

# Files larger than this are refused: split them (the upload's bound is 20 MiB).
MAX_FILE_BYTES = 512 * 1024 * 1024

Step = Callable[[int, int], None]


@contextmanager
def _progress(console: Console) -> Iterator[Callable[[str], Step]]:
    """Makes a step reporter per phase: a rich bar on a terminal, else lines."""
    if console.is_terminal:
        bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn(), console=console, transient=False)
        with bar:
            def rich_phase(name: str) -> Step:
                task = bar.add_task(name, total=None)
                return lambda done, total: bar.update(task, completed=done, total=total)
            yield rich_phase
        return

    def plain_phase(name: str) -> Step:
        def step(done: int, total: int) -> None:
            console.print(f"{name}: {done}/{total} rows", highlight=False)
        return step
    yield plain_phase


def run(dsn: str, path: Path, *, dry_run: bool, console: Console | None = None) -> int:
    # Long lines stay whole: a log or a script reads them, one error a line.
    console = console or Console(soft_wrap=True)
    err = Console(stderr=True, soft_wrap=True)
    try:
        fmt = format_of(path.name)
        if not path.is_file():
            raise ImportFileError(f"{path}: no such file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ImportFileError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB; split it")
        data = path.read_bytes()
    except (ImportFileError, OSError) as exc:
        err.print(f"seatserver import: {exc}", highlight=False, markup=False)
        return 2
    started = time.perf_counter()
    with _progress(console) as phase:
        try:
            checked = check_file(data, fmt, phase("checking"))
        except ImportFileError as exc:
            err.print(f"seatserver import: {path.name}: {exc}", highlight=False, markup=False)
            return 2
        outcome: ImportOutcome | None = None
        if checked.error_count and not dry_run:
            pass
        else:
            try:
                outcome = asyncio.run(_apply(dsn, checked.rows, dry_run, str(path),
                                             phase("writing")))
            except CodedError as exc:
                err.print(f"seatserver import: {exc.message}", highlight=False, markup=False)
                return 2
    elapsed = time.perf_counter() - started
    for error in checked.errors:
        err.print(f"seatserver import: {path.name}: {error.shown(fmt)}", highlight=False,
                  markup=False)
    if checked.error_count > len(checked.errors):
        err.print(f"seatserver import: … {checked.error_count - len(checked.errors)} more "
                  "errors", highlight=False, markup=False)
    rows = len(checked.rows) + checked.error_count
    if outcome is None:
        console.print(f"{rows} rows, {checked.error_count} in error: nothing was imported",
                      highlight=False)
        return 2
    verb = "would be" if dry_run else "were"
    console.print(f"{rows} rows in {elapsed:.2f} s: {len(outcome.created)} {verb} created, "
                  f"{len(outcome.updated)} {verb} updated, {outcome.unchanged} unchanged, "
                  f"{checked.error_count} errors" + (" (dry run: nothing changed)"
                                                     if dry_run else ""), highlight=False)
    return 2 if checked.error_count else 0


async def _apply(dsn: str, rows: list[ImportRow], dry_run: bool, source: str,
                 progress: Step) -> ImportOutcome:
    pool = await create_pool(dsn, 2)
    try:
        return await MovieImportStore(pool).apply(rows, dry_run=dry_run, source=source,
                                                  progress=progress)
    finally:
        await pool.close()
