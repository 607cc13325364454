"""Movie import: the admin upload (POST /api/admin/movies/import) and
`seatserver import movies`, with hostile files, line numbers, dry runs,
idempotence and a 10,000-row file timed."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from seatserver.catalog.import_http import MAX_IMPORT_BYTES
from seatserver.http.roles import Role
from tests.admin.conftest import Admin, audit_rows
from tests.test_cli import environment, seatserver

HEADER = "slug,title,runtime_min,synopsis,languages,genres,released_on,certificate\n"


def tag() -> str:
    return secrets.token_hex(3)


def csv_file(rows: list[str], header: str = HEADER) -> bytes:
    return (header + "".join(r + "\n" for r in rows)).encode()


async def upload(admin: Admin, data: bytes, content_type: str = "text/csv", *,
                 dry_run: bool = False) -> tuple[int, Any]:
    headers = {"Content-Type": content_type}
    if admin.bearer:
        headers["Authorization"] = f"Bearer {admin.bearer}"
    query = "?dry_run=true" if dry_run else ""
    body = io.BytesIO(data) if isinstance(data, bytes) else data
    async with admin.http.post(f"{admin.base}/api/admin/movies/import{query}", data=body,
                               headers=headers) as resp:
        body = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, body


async def movies(db_pool: asyncpg.Pool, prefix: str) -> dict[str, asyncpg.Record]:
    async with db_pool.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM movies WHERE slug LIKE $1", f"{prefix}%")
    return {r["slug"]: r for r in rows}


async def test_csv_import_creates_then_updates_and_a_second_run_changes_nothing(
        admin: Admin, db_pool: asyncpg.Pool) -> None:
    t = tag()
    data = csv_file([f'{t}-a,"Amélie, again",122,"Paris.\nA café.",fr;en,comedy,2001-04-25,12',
                     f"{t}-b,Northern Lights,95,,,,,"])
    status, report = await upload(admin, data)
    assert status == 200, report
    assert (report["created"], report["updated"], report["unchanged"]) == (2, 0, 0)
    stored = await movies(db_pool, t)
    assert stored[f"{t}-a"]["title"] == "Amélie, again"
    assert stored[f"{t}-a"]["synopsis"] == "Paris.\nA café."
    assert stored[f"{t}-a"]["languages"] == ["fr", "en"]
    assert str(stored[f"{t}-a"]["released_on"]) == "2001-04-25"
    status, report = await upload(admin, data)
    assert (status, report["created"], report["updated"], report["unchanged"]) == (200, 0, 0, 2)
    assert await movies(db_pool, t) == stored  # nothing changed, not even rewritten
    changed = data.replace(b"Northern Lights,95", b"Northern Lights,97")
    status, report = await upload(admin, changed)
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 1, 1)
    assert (await movies(db_pool, t))[f"{t}-b"]["runtime_min"] == 97
    (audit,) = [r for r in await audit_rows(db_pool, admin.id)
                if r["action"] == "movies.imported" and r["after"]["updated"] == 1]
    assert audit["after"]["updated_slugs"] == [f"{t}-b"] and audit["source"] == "upload"


async def test_dry_run_reports_and_changes_nothing(admin: Admin, db_pool: asyncpg.Pool) -> None:
    t = tag()
    data = csv_file([f"{t}-a,One,90,,,,,", f"{t}-b,Two,abc,,,,,"])
    status, report = await upload(admin, data, dry_run=True)
    assert status == 200 and report["dry_run"] and not report["applied"]
    assert report["created"] == 1 and report["errors"] == [
        {"line": 3, "field": "runtime_min",
         "message": "must be a whole number in digits 0-9, got 'abc'"}]
    assert await movies(db_pool, t) == {}


async def test_a_file_with_an_error_imports_nothing_and_names_the_line(
        admin: Admin, db_pool: asyncpg.Pool) -> None:
    t = tag()
    data = csv_file([f"{t}-a,One,90,,,,,", f'{t}-b,"Two\nlines",90,,,,,',
                     f"{t}-c,Three,90,,,,,", f"{t}-BAD,Four,90,,,,,"])
    status, body = await upload(admin, data)
    assert status == 422 and body["error"]["code"] == "invalid_input"
    # The quoted title spans lines 3-4: the row starts at 3, the next at 5, then 6.
    assert [(e["line"], e["field"]) for e in body["report"]["errors"]] == [
        (3, "title"), (6, "slug")]
    assert body["error"]["message"].startswith("line 3: title: contains the control character")
    assert await movies(db_pool, t) == {}


@pytest.mark.parametrize(("cells", "field", "message"), [
    ("x,Title\x00,90", "title", "control character U+0000"),
    ("x,Title\u0085Two,90", "title", "control character U+0085"),
    ("x,Title\u2028Two,90", "title", "line break U+2028"),
    ("x,Avatar\u202etxt.exe,90", "title", "bidirectional override U+202E"),
    ("x,Title,90,,,Drama\u009b", "genres", "control character U+009B"),
    ("x,Title,\u0661\u0662\u0660", "runtime_min", "digits 0-9"),
    ("x,Title,\uff19\uff10", "runtime_min", "digits 0-9"),
    ("x,Title,90.0", "runtime_min", "digits 0-9"),
    ("x,Title,0", "runtime_min", "greater than or equal to 1"),
    ("x,Title,99999999999999", "runtime_min", "at most 1440"),
    ('x,"=HYPERLINK(""http://evil.example"")",90', "title", "formula"),
    ("x,@SUM(A1),90", "title", "formula"),
    ("x,+cmd,90", "title", "formula"),
    ("x,Title,90,,xx_YY", "languages", "pattern"),
    ("x,Title,90,,,,2024-02-30", "released_on", "date"),
    ("x," + "T" * 300 + ",90", "title", "at most 200 characters"),
    ("x,Title,90,,,,,,extra", "", "has 9 fields, the header 8"),
])
async def test_a_hostile_cell_is_an_error_naming_its_line_and_field(
        admin: Admin, cells: str, field: str, message: str) -> None:
    t = tag()
    status, report = await upload(admin, csv_file(["a-" + t + ",Fine,90", cells.replace(
        "x,", f"{t}-x,", 1)]), dry_run=True)
    assert status == 200, report
    (error,) = report["errors"]
    assert (error["line"], error["field"]) == (3, field) and message in error["message"]


async def test_duplicate_slugs_in_one_file_name_the_first_line(admin: Admin) -> None:
    t = tag()
    _, report = await upload(admin, csv_file([f"{t},One,90", f"{t}-b,Two,90", f"{t},Again,91"]),
                             dry_run=True)
    assert report["errors"] == [{"line": 4, "field": "slug",
                                 "message": f"'{t}' is also at line 2 of this file"}]
    assert report["created"] == 2


@pytest.mark.parametrize(("data", "content_type", "message"), [
    (b"slug,title,runtime_min\nx,Caf\xe9,90\n", "text/csv", "line 2: the file is not UTF-8"),
    ("slug,title,runtime_min\nx,Café,90\n".encode("utf-16"), "text/csv", "not UTF-8"),
    (b"slug,title,runtime_min,colour\n", "text/csv", "unknown column 'colour'"),
    (b"slug,title\nx,y\n", "text/csv", "needs the column 'runtime_min'"),
    (b"", "text/csv", "the file is empty"),
    (b'slug,title,runtime_min\nx,"' + b"a" * 200_000 + b'",90\n', "text/csv", "not valid CSV"),
    (b'[{"slug": "x", "title": "y"', "application/json", "line 1: not valid JSON"),
    (b'{"slug": "x"}', "application/json", "must be an array of movies"),
    (b"slug,title,runtime_min\n", "text/plain", "Content-Type"),
    (b"slug,title,runtime_min\n", "multipart/form-data; boundary=x", "Content-Type"),
])
async def test_a_file_that_cannot_be_read_is_a_400_saying_why(
        admin: Admin, data: bytes, content_type: str, message: str) -> None:
    status, body = await upload(admin, data, content_type)
    assert (status, body["error"]["code"]) == (400, "bad_request"), body
    assert message in body["error"]["message"]


async def test_a_bom_and_crlf_lines_are_read(admin: Admin, db_pool: asyncpg.Pool) -> None:
    t = tag()
    data = b"\xef\xbb\xbfslug,title,runtime_min\r\n" + f"{t},Bom,90\r\n".encode()
    status, report = await upload(admin, data)
    assert (status, report["created"]) == (200, 1)
    assert (await movies(db_pool, t))[t]["title"] == "Bom"


async def test_json_import_reports_by_array_index(admin: Admin, db_pool: asyncpg.Pool) -> None:
    t = tag()
    rows: list[Any] = [
        {"slug": f"{t}-a", "title": "A", "runtime_min": 90, "languages": ["en"]},
        {"slug": f"{t}-b", "title": "B", "runtime_min": True},
        {"slug": f"{t}-c", "title": "C", "runtime_min": "\u0669\u0660"},
        "not an object",
        {"slug": f"{t}-d", "title": "D", "runtime_min": 90, "rating": 5},
        {"slug": f"{t}-a", "title": "A again", "runtime_min": 90},
    ]
    status, report = await upload(admin, json.dumps(rows).encode(), "application/json",
                                  dry_run=True)
    assert status == 200
    assert [(e["index"], e["field"]) for e in report["errors"]] == [
        (1, "runtime_min"), (2, "runtime_min"), (3, ""), (4, "rating"), (5, "slug")]
    status, report = await upload(admin, json.dumps(rows[:1]).encode(), "application/json")
    assert (status, report["created"]) == (200, 1)


async def test_an_upload_past_the_size_bound_is_refused_413(admin: Admin) -> None:
    # Declared: refused on the header, before the 100 MB are read.
    status, body = await upload(admin, b"x" * (100 * 1024 * 1024))
    assert (status, body["error"]["code"]) == (413, "bad_request"), body

    async def chunks() -> AsyncIterator[bytes]:  # undeclared (chunked): cut at the bound
        for _ in range(MAX_IMPORT_BYTES // (1 << 20) + 2):
            yield b"y" * (1 << 20)
    status, body = await upload(admin, chunks())  # type: ignore[arg-type]
    assert status == 413 and "larger than 20 MiB" in body["error"]["message"]


@pytest.mark.parametrize("role", [Role.ANONYMOUS, Role.GUEST, Role.CUSTOMER, Role.KIOSK])
async def test_only_admins_may_import(as_role: Any, role: Role) -> None:
    caller = await as_role(role)
    status, body = await upload(caller, csv_file([f"{tag()},T,90"]))
    assert status in (401, 403), body


def _ten_thousand(t: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["slug", "title", "runtime_min", "synopsis", "languages", "genres"])
    for i in range(10_000):
        writer.writerow([f"{t}-{i}", f"Film number {i}", 60 + i % 120,
                         "A synopsis of a few words, " * 4, "en;de", "drama;comedy"])
    return out.getvalue().encode()


async def test_ten_thousand_rows_import_in_seconds_and_again_change_nothing(
        admin: Admin, db_pool: asyncpg.Pool) -> None:
    t = tag()
    data = _ten_thousand(t)
    started = time.perf_counter()
    status, report = await upload(admin, data)
    first = time.perf_counter() - started
    assert (status, report["created"]) == (200, 10_000), report
    started = time.perf_counter()
    status, report = await upload(admin, data)
    second = time.perf_counter() - started
    assert (status, report["unchanged"]) == (200, 10_000)
    print(f"\n10,000 rows ({len(data) / 1e6:.1f} MB): imported in {first:.2f} s, "
          f"again (nothing to change) in {second:.2f} s")
    assert first < 60  # a generous sanity bound, not a benchmark
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM movies WHERE slug LIKE $1",
                                   f"{t}-%") == 10_000


# -- the command line -------------------------------------------------------


def test_cli_imports_with_plain_progress_lines_then_changes_nothing(
        database_url: str, tmp_path: Path) -> None:
    t = tag()
    path = tmp_path / "movies.csv"
    path.write_bytes(_ten_thousand(t))
    done = seatserver("import", "movies", str(path), "--dry-run", DATABASE_URL=database_url)
    assert done.returncode == 0, done.stderr
    assert "checking: 10000/10000 rows" in done.stdout  # not a terminal: plain lines
    assert "10000 would be created" in done.stdout and "dry run: nothing changed" in done.stdout
    done = seatserver("import", "movies", str(path), DATABASE_URL=database_url)
    assert done.returncode == 0, done.stderr
    assert "writing: 10000/10000 rows" in done.stdout and "10000 were created" in done.stdout
    print("\n" + done.stdout.splitlines()[-1])
    again = seatserver("import", "movies", str(path), DATABASE_URL=database_url)
    assert "0 were created, 0 were updated, 10000 unchanged" in again.stdout
    assert "writing:" not in again.stdout


def test_cli_reports_errors_by_line_and_exits_2(database_url: str, tmp_path: Path) -> None:
    t = tag()
    path = tmp_path / "movies.csv"
    path.write_bytes(csv_file([f"{t}-a,One,90,,,,,", f"{t}-b,Two,\u0663\u0660,,,,,"]))
    done = seatserver("import", "movies", str(path), DATABASE_URL=database_url)
    assert done.returncode == 2
    assert "movies.csv: line 3: runtime_min: must be a whole number in digits 0-9" in done.stderr
    assert "nothing was imported" in done.stdout and "Traceback" not in done.stderr


@pytest.mark.parametrize(("name", "data", "message"), [
    ("movies.txt", b"", "must be CSV (.csv, text/csv) or JSON"),
    ("missing.csv", None, "no such file"),
    ("bad.json", b"[1, 2", "line 1: not valid JSON"),
    ("nul.csv", b"slug,title,runtime_min\nx,\x00,1\n", "line 2: title: contains the control"),
])
def test_cli_refuses_unreadable_files_with_one_line(
        database_url: str, tmp_path: Path, name: str, data: bytes | None, message: str) -> None:
    path = tmp_path / name
    if data is not None:
        path.write_bytes(data)
    done = seatserver("import", "movies", str(path), DATABASE_URL=database_url)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_cli_without_a_database_says_what_to_set(tmp_path: Path) -> None:
    done = seatserver("import", "movies", str(tmp_path / "m.csv"))
    assert done.returncode == 2 and "DATABASE_URL is not set" in done.stderr



def test_cli_on_a_terminal_draws_a_progress_bar(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "movies.csv"
    path.write_bytes(_ten_thousand(tag()))
    controller, terminal = pty.openpty()
    env = environment(DATABASE_URL=database_url, COLUMNS="100", TERM="xterm")
    with subprocess.Popen([sys.executable, "-m", "seatserver", "import", "movies", str(path),
                           "--dry-run"], stdin=terminal, stdout=terminal, stderr=terminal,
                          env=env) as process:
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            shown += chunk
        assert process.wait(timeout=60) == 0
    os.close(controller)
    text = shown.decode(errors="replace")
    assert "━" in text and "10000/10000" in text  # rich's bar and its count
    assert "checking: 1000/10000 rows" not in text  # not the plain lines
    assert "10000 would be created" in text
