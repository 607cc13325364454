"""Real e-mail: the outbox's SMTP sink against real SMTP servers (aiosmtpd) in
the test, read back with the email package; servers that refuse, are down or
are slow; and hostile titles and addresses that must not add headers or markup."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from seatserver.accounts.messages import AccountComposer
from seatserver.bookings.keys import Keyring
from seatserver.bookings.links import TicketLinks
from seatserver.bookings.messages import BookingComposer
from seatserver.bookings.store import BookingStore
from seatserver.bookings.tickets import TicketSigner
from seatserver.catalog.store import CatalogStore
from seatserver.outbox import worker as outbox
from seatserver.outbox.messages import Attachment, LogSink, Message
from seatserver.outbox.setup import message_sink
from seatserver.outbox.smtp import (
    PermanentDeliveryError,
    SmtpConfig,
    SmtpSink,
    SmtpTls,
    html_body,
)
from seatserver.outbox.worker import OutboxWorker
from seatserver.personal.rotation import OUTBOX_FIELD
from seatserver.personal.setup import stored_keys
from seatserver.settings import Settings, SettingsError
from tests.bookings.conftest import Buyer
from tests.bookings.test_calendar import parse_ics
from tests.bookings.test_outbox import _paid

BuyerFactory = Callable[..., Awaitable[Buyer]]
LINK_ORIGIN = "https://tickets.example.com"


@dataclass
class Inbox:
    """What an aiosmtpd handler received; refuses or stalls when told to."""

    received: list[tuple[Envelope, EmailMessage]] = field(default_factory=list)
    refuse_rcpt: str | None = None  # e.g. "550 5.1.1 no such user"
    stall_s: float = 0.0

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.stall_s:
            await asyncio.sleep(self.stall_s)
        raw = envelope.original_content or b""
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append((envelope, parsed))
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made here with openssl."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def _authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                   auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and \
        (auth_data.login, auth_data.password) == (b"mailer", b"s3cret password")
    return AuthResult(success=ok)


@pytest.fixture
def tls_inbox(certificate: tuple[Path, Path]) -> Iterator[tuple[Inbox, int]]:
    """A server that offers STARTTLS, requires it, and requires a log-in over it."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port(),
                            tls_context=context, require_starttls=True,
                            authenticator=_authenticator, auth_required=True)
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


def _sink(port: int, **changes: Any) -> SmtpSink:
    config = dict(host="127.0.0.1", port=port, tls=SmtpTls.NONE,
                  sender="tickets@example.com", timeout_s=5.0)
    return SmtpSink(SmtpConfig(**(config | changes)))


async def _worker(pool: asyncpg.Pool, sink: Any, keys: Keyring, attempts: int = 20
                  ) -> OutboxWorker:
    composer = BookingComposer(BookingStore(pool, await stored_keys(pool)), CatalogStore(pool),
                               TicketSigner(keys),
                               TicketLinks(keys, LINK_ORIGIN))
    return OutboxWorker(pool, composer, sink, poll_s=3600, retry_base_s=1.0,
                        retry_cap_s=2.0, max_attempts=attempts, send_timeout_s=10)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(outbox_poll_s=3600)


@pytest.fixture
async def queued(buyer_at: BuyerFactory, base_url: str, showtime: int, seats: list[str],
                 db_pool: asyncpg.Pool) -> str:
    """A paid booking whose confirmation is queued, unsent."""
    return await _paid(await buyer_at(base_url), showtime, seats[:2])


async def _row(pool: asyncpg.Pool) -> asyncpg.Record:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT attempts, last_error, sent_at, dead_at, next_attempt_at > now() AS later "
            "FROM outbox")
    assert row is not None
    return row


def _parts(mail: EmailMessage) -> tuple[str, str, list[EmailMessage]]:
    text = mail.get_body(("plain",))
    markup = mail.get_body(("html",))
    assert text is not None and markup is not None
    return (text.get_content(), markup.get_content(),
            [part for part in mail.iter_attachments() if isinstance(part, EmailMessage)])


async def test_ticket_mail_arrives_with_text_html_calendar_and_signed_link(
        queued: str, inbox: tuple[Inbox, int], db_pool: asyncpg.Pool, keys: Keyring) -> None:
    handler, port = inbox
    sent_before = outbox.counts.sent
    assert await (await _worker(db_pool, _sink(port), keys)).deliver_due() == 1
    ((envelope, mail),) = handler.received
    assert envelope.mail_from == "tickets@example.com"
    assert envelope.rcpt_tos == ["buyer@example.com"]
    assert mail["To"] == "buyer@example.com" and mail["From"] == "tickets@example.com"
    assert mail["Subject"].startswith(f"Your booking {queued} is confirmed")
    assert mail["Message-ID"].startswith("<outbox-") and mail["Date"]
    assert mail.get_content_type() == "multipart/mixed"
    text, markup, attachments = _parts(mail)
    link = TicketLinks(keys, LINK_ORIGIN).url(queued)
    assert link in text and TicketSigner(keys).issue(queued) in text
    assert f'<a href="{link.replace("&", "&amp;")}">' in markup
    (ics,) = attachments
    assert ics.get_content_type() == "text/calendar"
    assert ics.get_filename() == f"booking-{queued}.ics"
    assert ics.get_param("method") == "PUBLISH"
    content = ics.get_content()
    event = parse_ics(content if isinstance(content, bytes) else content.encode())
    assert event["SUMMARY"] in text
    row = await _row(db_pool)
    assert row["sent_at"] is not None and row["attempts"] == 1
    assert outbox.counts.sent == sent_before + 1


async def test_starttls_with_a_log_in_delivers_to_a_server_trusting_its_own_ca(
        tls_inbox: tuple[Inbox, int], certificate: tuple[Path, Path]) -> None:
    handler, port = tls_inbox
    sink = _sink(port, tls=SmtpTls.STARTTLS, ca_file=certificate[0], username="mailer",
                 password="s3cret password")
    await sink.deliver(Message(7, "reset_password", "ana@example.org", "Reset", "Hello\n"))
    ((envelope, mail),) = handler.received
    assert envelope.rcpt_tos == ["ana@example.org"] and mail["Subject"] == "Reset"


async def test_implicit_tls_delivers_from_the_first_byte(
        certificate: tuple[Path, Path]) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port(),
                            ssl_context=context)
    controller.start()
    try:
        sink = _sink(controller.port, tls=SmtpTls.TLS, ca_file=certificate[0])
        await sink.deliver(Message(8, "reset_password", "ana@example.org", "Over TLS", "x\n"))
    finally:
        controller.stop()
    ((_, mail),) = handler.received
    assert mail["Subject"] == "Over TLS"


# The test's SMTP server logs the handshake our client broke off.
@pytest.mark.expect_traceback("TLSSetupException")
async def test_starttls_refuses_a_certificate_it_does_not_trust(
        tls_inbox: tuple[Inbox, int]) -> None:
    handler, port = tls_inbox
    sink = _sink(port, tls=SmtpTls.STARTTLS, username="mailer", password="s3cret password")
    with pytest.raises(Exception) as failed:
        await sink.deliver(Message(7, "reset_password", "ana@example.org", "Reset", "x\n"))
    # Temporary (the operator fixes the CA), never sent without checking.
    assert not isinstance(failed.value, PermanentDeliveryError)
    assert handler.received == []


async def test_a_550_refusal_is_dead_at_once_with_the_reason(
        queued: str, inbox: tuple[Inbox, int], db_pool: asyncpg.Pool, keys: Keyring,
        caplog: pytest.LogCaptureFixture) -> None:
    handler, port = inbox
    handler.refuse_rcpt = "550 5.1.1 mailbox unavailable"
    dead_before = outbox.counts.dead
    assert await (await _worker(db_pool, _sink(port), keys)).deliver_due() == 0
    row = await _row(db_pool)
    assert row["dead_at"] is not None and row["sent_at"] is None and row["attempts"] == 1
    assert "550" in row["last_error"] and "mailbox unavailable" in row["last_error"]
    assert outbox.counts.dead == dead_before + 1
    (line,) = [r.getMessage() for r in caplog.records if "is dead" in r.getMessage()]
    assert "\n" not in line and "550" in line


async def test_a_450_refusal_is_retried_with_the_backoff(
        queued: str, inbox: tuple[Inbox, int], db_pool: asyncpg.Pool, keys: Keyring) -> None:
    handler, port = inbox
    handler.refuse_rcpt = "450 4.2.1 try again later"
    worker = await _worker(db_pool, _sink(port), keys)
    assert await worker.deliver_due() == 0
    row = await _row(db_pool)
    assert row["dead_at"] is None and row["later"] and "450" in row["last_error"]
    handler.refuse_rcpt = None
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE outbox SET next_attempt_at = now()")
    assert await worker.deliver_due() == 1 and len(handler.received) == 1


async def test_a_server_that_is_down_is_a_temporary_failure(
        queued: str, db_pool: asyncpg.Pool, keys: Keyring) -> None:
    retried = outbox.counts.retried
    assert await (await _worker(db_pool, _sink(_free_port()), keys)).deliver_due() == 0
    row = await _row(db_pool)
    assert row["dead_at"] is None and row["sent_at"] is None and row["later"]
    assert row["last_error"] and outbox.counts.retried == retried + 1


async def test_a_slow_server_times_out_and_is_retried(
        queued: str, inbox: tuple[Inbox, int], db_pool: asyncpg.Pool, keys: Keyring) -> None:
    handler, port = inbox
    handler.stall_s = 3.0
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await (await _worker(db_pool, _sink(port, timeout_s=1.0), keys)).deliver_due() == 0
    assert loop.time() - started < 2.9
    row = await _row(db_pool)
    assert row["dead_at"] is None and row["later"] and "Timeout" in row["last_error"]


async def test_a_server_that_runs_out_of_attempts_is_dead_after_the_last(
        queued: str, db_pool: asyncpg.Pool, keys: Keyring) -> None:
    assert await (await _worker(db_pool, _sink(_free_port()), keys, attempts=1)).deliver_due() == 0
    row = await _row(db_pool)
    assert row["dead_at"] is not None and row["attempts"] == 1


HOSTILE = "Film\r\nBcc: victim@example.net\r\n<script>alert(1)</script> & \"more\""


async def test_a_hostile_title_adds_no_header_and_no_markup(inbox: tuple[Inbox, int]) -> None:
    handler, port = inbox
    body = f"Your film: {HOSTILE}\nSee https://x.example/t?a=1&b=<2>\n"
    await _sink(port).deliver(Message(3, "booking_confirmed", "ana@example.org",
                                      f"Booked: {HOSTILE}", body))
    ((envelope, mail),) = handler.received
    assert envelope.rcpt_tos == ["ana@example.org"]  # no Bcc recipient added
    assert mail["Bcc"] is None
    # One header, folded to fit a line and unfolded again by the reader.
    subject = str(mail["Subject"]).strip()
    assert "\n" not in subject and subject.startswith("Booked: Film Bcc: victim@")
    text, markup, _ = _parts(mail)
    assert HOSTILE in text  # the text part says it as written (lines end CRLF on the wire)
    assert "<script>" not in markup and "&lt;script&gt;alert(1)&lt;/script&gt;" in markup
    assert '<a href="https://x.example/t?a=1&amp;b=">' in markup


@pytest.mark.parametrize("to", [
    "ana@example.org\r\nBcc: victim@example.net", "ana@example.org, eve@example.net",
    "Ana <ana@example.org>", "user:42", "", "ana@localhost", "ana@exa\x00mple.org"])
async def test_an_address_that_is_not_one_plain_address_is_refused_for_good(
        inbox: tuple[Inbox, int], to: str) -> None:
    handler, port = inbox
    with pytest.raises(PermanentDeliveryError, match="address"):
        await _sink(port).deliver(Message(4, "reset_password", to, "Reset", "x\n"))
    assert handler.received == []


def test_html_part_escapes_every_character_of_the_text() -> None:
    markup = html_body("<b>Tom & \"Jerry\"</b>\n\nhttps://a.example/?q=<x>")
    assert "<b>" not in markup and "&lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt;" in markup
    assert '<a href="https://a.example/?q=">https://a.example/?q=</a>&lt;x&gt;' in markup


def test_the_file_sink_stays_the_default_without_smtp_settings(tmp_path: Path) -> None:
    sink = message_sink(Settings(data_dir=tmp_path))
    assert isinstance(sink, LogSink)
    assert isinstance(message_sink(Settings.from_env({
        "SEATSERVER_SMTP_HOST": "mail.example.com", "SEATSERVER_SMTP_FROM": "t@example.com"})),
        SmtpSink)


@pytest.mark.parametrize(("env", "message"), [
    ({"SEATSERVER_SMTP_HOST": "mail.example.com"}, "needs SEATSERVER_SMTP_FROM"),
    ({"SEATSERVER_SMTP_HOST": "mail.example.com", "SEATSERVER_SMTP_FROM": "a@b.co",
      "SEATSERVER_SMTP_USERNAME": "u"}, "go together"),
    ({"SEATSERVER_SMTP_HOST": "mail.example.com", "SEATSERVER_SMTP_FROM": "a@b.co",
      "SEATSERVER_SMTP_USERNAME": "u", "SEATSERVER_SMTP_PASSWORD": "p",
      "SEATSERVER_SMTP_TLS": "none"}, "never sent in clear"),
    ({"SEATSERVER_SMTP_HOST": "mail.example.com\r\nx", "SEATSERVER_SMTP_FROM": "a@b.co"},
     "host name"),
    ({"SEATSERVER_SMTP_FROM": "a@b.co\r\nBcc: c@d.co"}, "one e-mail address"),
    ({"SEATSERVER_SMTP_FROM": "Tickets <a@b.co>"}, "one e-mail address"),
    ({"SEATSERVER_SMTP_TLS": "ssl"}, "starttls, tls or none"),
    ({"SEATSERVER_SMTP_PORT": "\u0665\u0668\u0667"}, "whole number"),
])
def test_smtp_settings_that_cannot_work_are_refused_by_name(
        env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


async def test_attachment_bytes_arrive_unchanged(inbox: tuple[Inbox, int]) -> None:
    handler, port = inbox
    data = "BEGIN:VCALENDAR\r\nSUMMARY:Amélie\r\nEND:VCALENDAR\r\n".encode()
    ics = Attachment("../booking\r\nX.ics", "text/calendar; charset=utf-8; method=PUBLISH", data)
    await _sink(port).deliver(Message(5, "booking_confirmed", "ana@example.org", "Hi",
                                      "Body\n", (ics,)))
    ((_, mail),) = handler.received
    (part,) = _parts(mail)[2]
    content = part.get_content()
    assert (content if isinstance(content, bytes) else content.encode()) == data
    assert "\n" not in (part.get_filename() or "")


async def test_reset_mail_carries_an_absolute_link_in_both_parts(
        inbox: tuple[Inbox, int], db_pool: asyncpg.Pool) -> None:
    handler, port = inbox
    keys = await stored_keys(db_pool)
    sealed = keys.cipher.seal("ana@example.org", OUTBOX_FIELD, "11")  # as the outbox keeps it
    message = await AccountComposer(keys, LINK_ORIGIN).compose(
        11, "account_reset_password", {"to": sealed, "user_id": 11, "secret": "tok-en_1",
                                       "expires_at": "2030-01-01T10:00:00+00:00"})
    await _sink(port).deliver(message)
    ((_, mail),) = handler.received
    text, markup, attachments = _parts(mail)
    link = f"{LINK_ORIGIN}/account?reset=tok-en_1"
    assert link in text and f'<a href="{link}">{link}</a>' in markup
    assert attachments == []


async def test_metrics_count_deliveries_by_outcome(
        queued: str, inbox: tuple[Inbox, int], db_pool: asyncpg.Pool, keys: Keyring,
        http: aiohttp.ClientSession, base_url: str) -> None:
    handler, port = inbox
    handler.refuse_rcpt = "550 5.1.1 mailbox unavailable"
    assert await (await _worker(db_pool, _sink(port), keys)).deliver_due() == 0
    async with http.get(f"{base_url}/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    (dead,) = [line for line in text.splitlines()
               if line.startswith('seatserver_outbox_deliveries_total{outcome="dead"}')]
    assert float(dead.split()[-1]) == outbox.counts.dead >= 1
