"""Fails a test whose server logged a traceback the test did not expect.

A logged traceback is an exception nothing handled: a bug, or input that
should have had a clean 4xx (issue 13). ``tests/conftest.py`` watches every
test: in-process servers (create_app under aiohttp's test server) through a
handler on the root logger that keeps records carrying an exception;
subprocess servers (``tests.e2e.server.Server``, ``tests.processes.ServerProcess``)
by handing over their output when they stop (``report_output``).

A test that provokes one on purpose says so, naming what it expects::

    @pytest.mark.expect_traceback("ConnectionError")

Each pattern is a regular expression searched in the traceback's text; a
traceback that matches none still fails the test.
"""

from __future__ import annotations

import logging
import re
import traceback

TRACEBACK = "Traceback (most recent call last)"
MARKER = "expect_traceback"


class TracebackWatch(logging.Handler):
    """Keeps the text of every traceback logged or reported during one test."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[0] is not None:
            text = "".join(traceback.format_exception(*record.exc_info))
        elif record.exc_text:
            text = record.exc_text
        else:
            return
        self.found.append(f"{record.name}: {record.getMessage()}\n{text}")

    def server_output(self, name: str, output: str) -> None:
        start = output.find(TRACEBACK)
        while start != -1:
            line_start = output.rfind("\n", 0, start) + 1
            line_end = output.find("\n", start)
            line_end = len(output) if line_end == -1 else line_end
            # A log line is one record (JSON), chained tracebacks and all: kept whole.
            self.found.append(f"{name}: {output[line_start:line_end]}")
            start = output.find(TRACEBACK, line_end)

    def unexpected(self, patterns: list[str]) -> list[str]:
        return [text for text in self.found
                if not any(re.search(p, text) for p in patterns)]


_current: TracebackWatch | None = None


def watch(current: TracebackWatch | None) -> None:
    """Make ``current`` the watch subprocess servers report to (None: none)."""
    global _current
    _current = current


def report_output(name: str, output: str) -> None:
    """A subprocess server's whole output, when it stops."""
    if _current is not None and TRACEBACK in output:
        _current.server_output(name, output)
