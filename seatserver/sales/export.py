"""CSV for spreadsheets: RFC 4180 quoting, UTF-8, and no formulas.

A cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage
return, which some spreadsheets skip before reading one) is a formula to
Excel, LibreOffice and Google Sheets: a buyer's e-mail or a film title could
run one on the operator's machine. Such text cells get a ``'`` in front, which
the spreadsheet shows as text. Numbers are written as numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

# Excel reads a CSV as UTF-8 only when it starts with a byte order mark.
BOM = "\ufeff".encode()
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | float | None


def safe_cell(value: Cell) -> str | int | float:
    """A value as a cell: text that would start a formula is quoted with ``'``."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_lines(rows: Iterable[Sequence[Cell]]) -> bytes:
    """Rows as CSV lines (CRLF, quoted where needed), UTF-8."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerows([safe_cell(cell) for cell in row] for row in rows)
    return out.getvalue().encode()
