"""``POST /api/admin/movies/import``: a movie file, as a dry run or for real.

The file is the raw body, ``text/csv`` or ``application/json`` (neither is
a type an HTML form of another site can send, so a forged upload needs a
CORS preflight, as every other admin change does), at most
``MAX_IMPORT_BYTES``: a larger declared length is refused before a byte is
read, a longer body as soon as it passes the bound (``reads_own_body``: the
app's 64 KiB bound and its NUL check do not apply; every value is checked
for control characters, NUL included, before anything is stored). Rows are checked off the
event loop (10,000 rows take a noticeable moment of CPU). The answer is the
report: created / updated / unchanged, and the errors by line. A file with
any row in error imports nothing (422, the first error in the message, the
whole report beside it), so an admin fixes the file and sends it again.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from seatserver.catalog.admin_http import Auditor
from seatserver.catalog.import_store import ImportOutcome, MovieImportStore
from seatserver.catalog.imports import CheckedFile, ImportFileError, check_file, format_of
from seatserver.errors import BadRequest
from seatserver.http.errors import error_response
from seatserver.http.inputs import reads_own_body
from seatserver.http.openapi import describe
from seatserver.http.params import query_of
from seatserver.http.responses import json_response
from seatserver.http.roles import Role, allow

MAX_IMPORT_BYTES = 20 * 1024 * 1024  # ~100,000 movies with synopses


class ImportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = Field(default=False, description="`true`: report what the import "
                                                     "would do and change nothing.")


def report(checked: CheckedFile, outcome: ImportOutcome | None, *, dry_run: bool
           ) -> dict[str, Any]:
    """The import's report, as the API answers it and the CLI prints it."""
    place = "line" if checked.format == "csv" else "index"
    return {
        "format": checked.format, "dry_run": dry_run,
        "applied": outcome is not None and not dry_run,
        "rows": len(checked.rows) + checked.error_count,
        "created": len(outcome.created) if outcome else 0,
        "updated": len(outcome.updated) if outcome else 0,
        "unchanged": outcome.unchanged if outcome else 0,
        "error_count": checked.error_count,
        "errors": [{place: e.line, "field": e.field, "message": e.message}
                   for e in checked.errors],
    }


class MovieImportHandlers:
    def __init__(self, store: MovieImportStore, auditor: Auditor) -> None:
        self._store = store
        self._auditor = auditor

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/api/admin/movies/import", self.import_movies)]

    @allow(Role.ADMIN)
    @describe("Import movies from a CSV or JSON file sent as the body (`text/csv` or "
              "`application/json`, at most 20 MiB), idempotent by slug; `dry_run=true` "
              "reports without changing anything. A file with a row in error imports "
              "nothing (422, with the report). Format: docs/catalog.md.",
              query=ImportQuery, errors=[400, 409, 413, 422])
    @reads_own_body
    async def import_movies(self, request: web.Request) -> web.Response:
        query = query_of(request, ImportQuery)
        try:
            fmt = format_of(None, request.content_type)
        except ImportFileError as exc:
            raise BadRequest(f"Content-Type: {exc}") from None
        data = await _body(request)
        if data is None:
            return error_response(413, "bad_request", f"the file is larger than "
                                  f"{MAX_IMPORT_BYTES // (1024 * 1024)} MiB; split it")
        try:
            checked = await asyncio.to_thread(check_file, data, fmt)
        except ImportFileError as exc:
            raise BadRequest(f"file: {exc}") from None
        if checked.error_count and not query.dry_run:
            first = checked.errors[0].shown(fmt)
            return json_response({
                "error": {"code": "invalid_input",
                          "message": f"{first} ({checked.error_count} rows in error; "
                                     "nothing was imported)"},
                "report": report(checked, None, dry_run=False)}, 422)
        outcome = await self._store.apply(checked.rows, dry_run=query.dry_run,
                                          source="upload", by=self._auditor.actor(request))
        return json_response(report(checked, outcome, dry_run=query.dry_run))


async def _body(request: web.Request) -> bytes | None:
    """The body, or None past MAX_IMPORT_BYTES (declared or sent)."""
    if (request.content_length or 0) > MAX_IMPORT_BYTES:
        return None
    parts, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_IMPORT_BYTES:
            return None
        parts.append(chunk)
    return b"".join(parts)
