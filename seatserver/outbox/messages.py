"""What the outbox delivers: messages, who composes them, where they go.

Each feature that writes outbox rows (bookings, accounts) composes its own
kinds of message; ``ComposerByKind`` hands each row to its feature.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with a message (a calendar entry)."""

    filename: str
    content_type: str  # e.g. "text/calendar; charset=utf-8; method=PUBLISH"
    data: bytes


@dataclass(frozen=True, slots=True)
class Message:
    """A message ready for a person: who it is for, what it says."""

    id: int  # the outbox row: stable across retries, for deduplication
    kind: str
    to: str
    subject: str
    text: str
    attachments: tuple[Attachment, ...] = ()


class MessageSink(Protocol):
    """Delivers one message or raises. It may be given the same message again
    after a crash (same ``id``), never twice at once."""

    async def deliver(self, message: Message) -> None: ...


class MessageComposer(Protocol):
    """Turns an outbox row of the kinds it knows into a message; raises for others."""

    async def compose(self, row_id: int, kind: str, payload: Mapping[str, Any]) -> Message: ...


class ComposerByKind:
    """One outbox, many features: each kind of row goes to its feature's composer."""

    def __init__(self, composers: Mapping[str, MessageComposer]) -> None:
        self._composers = dict(composers)

    async def compose(self, row_id: int, kind: str, payload: Mapping[str, Any]) -> Message:
        composer = self._composers.get(kind)
        if composer is None:
            raise ValueError(f"no message for outbox kind {kind!r}")
        return await composer.compose(row_id, kind, payload)


class LogSink:
    """For developers: each message is logged and written out readable, one
    file per message under ``folder`` (rewritten, not doubled, if resent)."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def path(self, message: Message) -> Path:
        return self._folder / f"{message.id:08d}-{message.kind}.txt"

    def attachment_path(self, message: Message, attachment: Attachment) -> Path:
        """Beside the message: ``<id>-<kind>-<filename>`` (the name made safe)."""
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in attachment.filename)
        return self._folder / f"{message.id:08d}-{message.kind}-{name.lstrip('.')}"

    async def deliver(self, message: Message) -> None:
        files = "".join(f"Attached: {a.filename} ({a.content_type})\n"
                        for a in message.attachments)
        text = f"To: {message.to}\nSubject: {message.subject}\n{files}\n{message.text}"
        for attachment in message.attachments:
            await asyncio.to_thread(self._write, self.attachment_path(message, attachment),
                                    attachment.data)
        # The message last: once it is there, so are its attachments.
        await asyncio.to_thread(self._write, self.path(message), text.encode())
        log.info("message %d to %s: %s\n%s", message.id, message.to, message.subject,
                 message.text)

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        partial.write_bytes(data)
        partial.replace(path)  # a reader never sees half a message
