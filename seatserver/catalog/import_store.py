"""Writing an imported movie file: idempotent by slug, in batches.

The rows of a checked file (``catalog.imports``) are compared with the
movies of the same slugs, read and locked in the import's transaction:
a slug not there is created, one whose facts differ is updated, one
identical is left alone, so importing a file again changes nothing. Only
the created and updated rows are written: copied (COPY) into a temporary
table and upserted from it in one statement, so 10,000 rows take a fraction
of a second rather than 10,000 round trips. One audit row names the admin,
the file and what changed; a dry run reads the same and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from seatserver.audit import SYSTEM, Actor, AuditEntry, write_audit
from seatserver.catalog.imports import ImportRow
from seatserver.catalog.store import CatalogStore
from seatserver.errors import ShowtimeOverlap

_FIELDS = ("slug", "title", "synopsis", "runtime_min", "certificate", "poster_url",
           "languages", "genres", "released_on")
_BATCH = 2_000
# Slugs an audit row lists of each change; the counts are always whole.
_AUDITED_SLUGS = 100

# Called with (rows written, rows to write).
WriteProgress = Callable[[int, int], None]


@dataclass
class ImportOutcome:
    created: list[ImportRow] = field(default_factory=list)
    updated: list[ImportRow] = field(default_factory=list)
    unchanged: int = 0


def _values(row: ImportRow) -> tuple[object, ...]:
    m = row.movie
    return (m.slug, m.title, m.synopsis, m.runtime_min, m.certificate, m.poster_url,
            list(m.languages), list(m.genres), m.released_on)


class MovieImportStore:
    def __init__(self, pool: asyncpg.Pool, catalog: CatalogStore | None = None) -> None:
        self._pool = pool
        self._catalog = catalog

    async def apply(self, rows: list[ImportRow], *, dry_run: bool, source: str,
                    by: Actor = SYSTEM, progress: WriteProgress | None = None
                    ) -> ImportOutcome:
        """What importing ``rows`` creates and updates; written unless ``dry_run``."""
        async with self._pool.acquire() as conn, conn.transaction():
            outcome = await self._compare(conn, rows, lock=not dry_run)
            changed = outcome.created + outcome.updated
            if dry_run or not changed:
                return outcome
            await self._write(conn, changed, progress)
            await write_audit(conn, AuditEntry(by, "movies.imported", None, {
                "created": len(outcome.created), "updated": len(outcome.updated),
                "unchanged": outcome.unchanged,
                "created_slugs": [r.movie.slug for r in outcome.created[:_AUDITED_SLUGS]],
                "updated_slugs": [r.movie.slug for r in outcome.updated[:_AUDITED_SLUGS]],
            }, note={"source": source[:200]}))
        if self._catalog is not None:
            self._catalog.invalidate()
        return outcome

    @staticmethod
    async def _compare(conn: asyncpg.Connection, rows: list[ImportRow], *,
                       lock: bool) -> ImportOutcome:
        existing = {
            r["slug"]: tuple(r[f] for f in _FIELDS) for r in await conn.fetch(
                f"SELECT {', '.join(_FIELDS)} FROM movies WHERE slug = any($1::text[])"
                + (" ORDER BY slug FOR UPDATE" if lock else ""),
                [row.movie.slug for row in rows])}
        outcome = ImportOutcome()
        for row in rows:
            before = existing.get(row.movie.slug)
            if before is None:
                outcome.created.append(row)
            elif before != _values(row):
                outcome.updated.append(row)
            else:
                outcome.unchanged += 1
        return outcome

    @staticmethod
    async def _write(conn: asyncpg.Connection, rows: list[ImportRow],
                     progress: WriteProgress | None) -> None:
        await conn.execute(
            """CREATE TEMP TABLE movie_import (
                   slug text, title text, synopsis text, runtime_min integer,
                   certificate text, poster_url text, languages text[], genres text[],
                   released_on date) ON COMMIT DROP""")
        for start in range(0, len(rows), _BATCH):
            batch = rows[start:start + _BATCH]
            await conn.copy_records_to_table("movie_import", records=map(_values, batch),
                                             columns=_FIELDS)
            if progress is not None:
                progress(start + len(batch), len(rows))
        columns = ", ".join(_FIELDS)
        updates = ", ".join(f"{f} = EXCLUDED.{f}" for f in _FIELDS if f != "slug")
        try:
            await conn.execute(
                f"""INSERT INTO movies ({columns}) SELECT {columns} FROM movie_import
                    ON CONFLICT (slug) DO UPDATE SET {updates}""")
        except asyncpg.ExclusionViolationError:
            raise ShowtimeOverlap(
                "a new runtime in the file would make showtimes of a movie overlap the next "
                "show on their screen; nothing was imported") from None
