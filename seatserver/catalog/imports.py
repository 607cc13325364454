"""Reading a movie file to import: CSV or JSON, checked row by row.

A file is read whole (it is bounded by the caller) as UTF-8, a byte-order
mark allowed; anything else about the file as a whole (not UTF-8, malformed
JSON, no header, unknown columns, a field past the CSV limit) is a
``ImportFileError`` naming the line, and nothing is imported. Each row is
then validated with the admin API's own model (``MovieInput``) plus what a
file needs besides: whole numbers in ASCII digits only (``int`` would read
Arabic-Indic or fullwidth digits), no control characters (a NUL cannot be
stored, a line break has no place in a title, a bidirectional override can
make it read as another), no cell a spreadsheet would run as a formula
(``=``, ``+``, ``-``, ``@`` first: the catalog is exported again), and one
row per slug. A row's place is its line in a CSV file,
counting the header as line 1 (a quoted field over several lines counts from
its first), and its index in a JSON array.

Columns (CSV header or JSON keys): ``slug``, ``title``, ``runtime_min``
required; ``synopsis``, ``certificate``, ``poster_url``, ``released_on``
(YYYY-MM-DD), ``languages`` and ``genres`` (in CSV separated by ``;``) optional.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from pydantic import ValidationError

from seatserver.catalog.inputs import MovieInput, control_found

Format = Literal["csv", "json"]
COLUMNS = ("slug", "title", "synopsis", "runtime_min", "certificate", "poster_url",
           "languages", "genres", "released_on")
REQUIRED = ("slug", "title", "runtime_min")
LIST_COLUMNS = ("languages", "genres")
TEXT_COLUMNS = ("title", "synopsis", "certificate", "genres")
# A CSV field longer than this is refused: the longest the model takes (a
# synopsis, 5000) with room for quoting, far below csv's own 128 KiB.
MAX_FIELD = 20_000
# Errors kept in a report; the count goes on.
MAX_ERRORS = 1000

_FORMULA = ("=", "+", "-", "@")


class ImportFileError(ValueError):
    """The file cannot be read as a whole; the message says where and why."""


@dataclass(frozen=True, slots=True)
class RowError:
    line: int  # CSV: the file's line (header = 1); JSON: the array index
    field: str  # the column at fault, or "" for the row as a whole
    message: str

    def shown(self, fmt: Format) -> str:
        """``line 3: runtime_min: ...`` (CSV) or ``index 2: ...`` (JSON)."""
        where = f"{self.field}: " if self.field else ""
        return f"{'line' if fmt == 'csv' else 'index'} {self.line}: {where}{self.message}"


@dataclass(frozen=True, slots=True)
class ImportRow:
    line: int
    movie: MovieInput


@dataclass
class CheckedFile:
    """A file's valid rows and its errors (the first MAX_ERRORS, and how many)."""

    format: Format
    rows: list[ImportRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0

    def add_error(self, error: RowError) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(error)


# Called with (rows checked, rows in all) as checking goes.
Progress = Callable[[int, int], None]


def format_of(name: str | None, content_type: str | None = None) -> Format:
    """The format a file name (``.csv``/``.json``) or content type names."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in ("text/csv", "application/csv"):
        return "csv"
    if kind == "application/json":
        return "json"
    lowered = (name or "").lower()
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith(".json"):
        return "json"
    raise ImportFileError("the file must be CSV (.csv, text/csv) or JSON (.json, "
                          "application/json)")


def check_file(data: bytes, fmt: Format, progress: Progress | None = None) -> CheckedFile:
    """Every row of ``data`` checked (see the module's docstring)."""
    text = _decoded(data)
    raw_rows = list(_csv_rows(text) if fmt == "csv" else _json_rows(text))
    checked = CheckedFile(fmt)
    first_line: dict[str, int] = {}
    for done, (line, raw) in enumerate(raw_rows, 1):
        row = _checked_row(line, raw, checked)
        if row is not None:
            earlier = first_line.setdefault(row.movie.slug, line)
            if earlier != line:
                where = "line" if fmt == "csv" else "index"
                checked.add_error(RowError(line, "slug", f"{row.movie.slug!r} is also at "
                                                         f"{where} {earlier} of this file"))
            else:
                checked.rows.append(row)
        if progress is not None and (done % 1000 == 0 or done == len(raw_rows)):
            progress(done, len(raw_rows))
    return checked


def _decoded(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ImportFileError(f"line {line}: the file is not UTF-8 (byte "
                              f"0x{data[exc.start]:02x} at offset {exc.start}); save it as "
                              "UTF-8") from None


def _csv_rows(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise ImportFileError("line 1: the file is empty; it needs a header row "
                                  f"naming its columns ({', '.join(COLUMNS)})")
        names = [h.strip().lower() for h in header]
        _check_columns(names)
        start = reader.line_num + 1
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue  # a blank line
            if len(cells) > len(names):
                yield line, {"": f"has {len(cells)} fields, the header {len(names)}"}
                continue
            # Missing trailing cells are empty ones: spreadsheets leave them out.
            yield line, dict(zip(names, cells + [""] * (len(names) - len(cells)), strict=True))
    except csv.Error as exc:
        raise ImportFileError(f"line {reader.line_num}: not valid CSV: {exc}") from None


def _check_columns(names: list[str]) -> None:
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:
        raise ImportFileError(f"line 1: unknown column {unknown[0][:40]!r}; the columns are "
                              f"{', '.join(COLUMNS)}")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ImportFileError(f"line 1: column {twice[0]!r} is named twice")
    missing = [n for n in REQUIRED if n not in names]
    if missing:
        raise ImportFileError(f"line 1: the header needs the column {missing[0]!r}")


def _json_rows(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ImportFileError(f"line {exc.lineno}: not valid JSON: {exc.msg}") from None
    if isinstance(data, dict) and isinstance(data.get("movies"), list):
        data = data["movies"]
    if not isinstance(data, list):
        raise ImportFileError("the JSON file must be an array of movies (or an object "
                              "with one, \"movies\")")
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            yield index, {"": "must be an object of a movie's fields"}
            continue
        yield index, item


def _checked_row(line: int, raw: dict[str, Any], checked: CheckedFile) -> ImportRow | None:
    if "" in raw:
        checked.add_error(RowError(line, "", str(raw[""])))
        return None
    values: dict[str, Any] = {}
    for name, value in raw.items():
        try:
            values[name] = _value(name, value, checked.format)
        except ValueError as exc:
            checked.add_error(RowError(line, name, str(exc)))
            return None
    values = {k: v for k, v in values.items() if v is not None or k in REQUIRED}
    try:
        return ImportRow(line, MovieInput.model_validate(values))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        checked.add_error(RowError(line, where.split(".")[0], message))
        return None


def _value(name: str, value: Any, fmt: Format) -> Any:
    """One cell as the model takes it, or ValueError saying what is wrong."""
    if name not in COLUMNS:
        raise ValueError(f"unknown field; the fields are {', '.join(COLUMNS)}")
    if isinstance(value, str) and len(value) > MAX_FIELD:
        raise ValueError(f"longer than {MAX_FIELD} characters")
    if fmt == "csv":
        value = _csv_value(name, value)
    if name == "runtime_min":
        return _whole_number(value)
    for text in value if isinstance(value, list) else [value]:
        if isinstance(text, str):
            _check_text(name, text)
    return value


def _csv_value(name: str, cell: str) -> Any:
    cell = cell.strip()
    if name in LIST_COLUMNS:
        return [part.strip() for part in cell.split(";") if part.strip()]
    return cell or None


def _whole_number(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a whole number of minutes")
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit()):
            raise ValueError(f"must be a whole number in digits 0-9, got {value[:20]!r}")
        if len(text) > 6:
            raise ValueError("must be at most 1440")
        return int(text)
    return value


def _check_text(name: str, text: str) -> None:
    problem = control_found(text, one_line=name != "synopsis")
    if problem:
        raise ValueError(problem)
    if name in TEXT_COLUMNS and text.lstrip().startswith(_FORMULA):
        raise ValueError(f"starts with {text.lstrip()[0]!r}, which a spreadsheet would run "
                         "as a formula")
