"""The outbox's real sender: e-mail over SMTP (aiosmtplib).

Each message goes out as multipart/alternative (the composer's plain text
and an HTML rendering of it, every character of the text escaped) with its
attachments beside it. The composers write plain text only: one source of
what a message says, and nothing a film title or a buyer's name contains can
become markup, since the HTML is made here by escaping that text. Header
values are single lines (a CR or LF in a title is folded into a space) and
the recipient must be one plain address, so no value can add a header or a
recipient. The ``Message-ID`` is made from the outbox row, so a message sent
again after a crash carries the same id and receivers can drop the copy.

A refusal the server says is permanent (a 5xx reply) or an address that can
never be sent to raises ``PermanentDeliveryError``: the worker parks it dead
at once with the reason. Everything else (4xx replies, a refused or reset
connection, a timeout) is temporary and retried with the outbox's back-off.
"""

from __future__ import annotations

import html
import re
import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate
from enum import StrEnum
from pathlib import Path

import aiosmtplib

from seatserver.outbox.messages import Message


class SmtpTls(StrEnum):
    """How the connection is protected: not at all, upgraded with STARTTLS
    (port 587), or TLS from the first byte (port 465)."""

    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


class PermanentDeliveryError(Exception):
    """Sending this message again cannot succeed: park it now, with this reason."""


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int
    tls: SmtpTls
    sender: str
    username: str | None = None
    password: str | None = None
    timeout_s: float = 30.0
    # CA certificates to trust instead of the system's (a private relay).
    ca_file: Path | None = None


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_URL = re.compile(r"https?://[^\s<>\"']+")


def header_text(value: str) -> str:
    """A header value on one line: control characters (CR, LF, NUL…) become
    one space, so a value can never start a header of its own."""
    return _CONTROL.sub(" ", value).strip()


def recipient(to: str) -> Address:
    """The one address ``to`` names, or PermanentDeliveryError: no display
    name, no second address, no line breaks (a booking kept without an
    address, ``user:<id>``, is refused here too)."""
    if _CONTROL.search(to) or "," in to or ";" in to:
        raise PermanentDeliveryError(f"not a single e-mail address: {to[:80]!r}")
    try:
        address = Address(addr_spec=to.strip())
    except (ValueError, IndexError) as exc:
        raise PermanentDeliveryError(f"not an e-mail address: {to[:80]!r} ({exc})") from None
    if not address.username or not address.domain or "." not in address.domain:
        raise PermanentDeliveryError(f"not an e-mail address: {to[:80]!r}")
    return address


def html_body(text: str) -> str:
    """The plain text as HTML: paragraphs at blank lines, line breaks kept,
    links made clickable; every character of the text escaped."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [_linked(line) for line in block.split("\n")]
        paragraphs.append("<p>" + "<br>\n".join(lines) + "</p>")
    body = "\n".join(paragraphs)
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\n"
            "<body style=\"font-family: sans-serif; line-height: 1.4\">\n"
            f"{body}\n</body></html>\n")


def _linked(line: str) -> str:
    out, last = [], 0
    for match in _URL.finditer(line):
        url = match.group(0).rstrip(".,;:)")
        end = match.start() + len(url)
        out.append(html.escape(line[last:match.start()]))
        out.append(f'<a href="{html.escape(url)}">{html.escape(url)}</a>')
        last = end
    out.append(html.escape(line[last:]))
    # Columns of seats line up in the text; keep their spaces in HTML.
    return "".join(out).replace("  ", "&nbsp; ")


def email_message(message: Message, sender: str) -> EmailMessage:
    """``message`` as the e-mail that goes out (see the module's docstring)."""
    to = recipient(message.to)
    mail = EmailMessage(policy=SMTP_POLICY)
    mail["From"] = header_text(sender)
    mail["To"] = to
    mail["Subject"] = header_text(message.subject)
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    domain = sender.rpartition("@")[2].strip("> ") or "seatserver.invalid"
    mail["Message-ID"] = f"<outbox-{message.id}@{header_text(domain)}>"
    mail.set_content(message.text)
    mail.add_alternative(html_body(message.text), subtype="html")
    for attachment in message.attachments:
        kind, *params = [p.strip() for p in attachment.content_type.split(";")]
        maintype, _, subtype = kind.partition("/")
        extra = dict(p.split("=", 1) for p in params if "=" in p)
        mail.add_attachment(attachment.data, maintype=maintype, subtype=subtype,
                            filename=header_text(attachment.filename), params=extra)
    return mail


class SmtpSink:
    """Delivers each message to one SMTP server, a connection per message
    (messages are few; a pooled connection would only add a stale-socket case)."""

    def __init__(self, config: SmtpConfig) -> None:
        self._config = config
        self._tls_context: ssl.SSLContext | None = None
        if config.tls is not SmtpTls.NONE:
            self._tls_context = ssl.create_default_context(
                cafile=str(config.ca_file) if config.ca_file else None)

    async def deliver(self, message: Message) -> None:
        config = self._config
        mail = email_message(message, config.sender)
        try:
            await aiosmtplib.send(
                mail, hostname=config.host, port=config.port,
                username=config.username, password=config.password,
                use_tls=config.tls is SmtpTls.TLS,
                start_tls=config.tls is SmtpTls.STARTTLS,
                tls_context=self._tls_context, timeout=config.timeout_s)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            if codes and all(code >= 500 for code in codes):
                raise PermanentDeliveryError(_refusal(exc.recipients[0])) from None
            raise
        except aiosmtplib.SMTPAuthenticationError:
            # The server refuses our log-in, not the message: once the
            # settings are fixed it goes out, so it waits with the others.
            raise
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code >= 500:
                raise PermanentDeliveryError(_refusal(exc)) from None
            raise


def _refusal(exc: aiosmtplib.SMTPResponseException) -> str:
    return f"refused by the mail server: {exc.code} {header_text(exc.message)[:300]}"
