"""setup_outbox: the worker that delivers the outbox's messages.

Features that write messages add the composers of their kinds
(``add_composers``) before the app starts; the worker composes each message
with the composer of its kind.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from seatserver.appkeys import DB_POOL, SETTINGS
from seatserver.lifecycle import Lifecycle, add_feature
from seatserver.outbox.messages import ComposerByKind, LogSink, MessageComposer, MessageSink
from seatserver.outbox.smtp import SmtpConfig, SmtpSink, SmtpTls
from seatserver.outbox.worker import OutboxWorker
from seatserver.settings import Settings

COMPOSERS: web.AppKey[dict[str, MessageComposer]] = web.AppKey("composers")


def add_composers(app: web.Application, composers: Mapping[str, MessageComposer]) -> None:
    kinds = app.setdefault(COMPOSERS, {})
    if taken := kinds.keys() & composers.keys():
        raise ValueError(f"message kinds composed twice: {', '.join(sorted(taken))}")
    kinds.update(composers)


def setup_outbox(app: web.Application) -> None:
    app.setdefault(COMPOSERS, {})
    add_feature(app, _wire)


def _wire(app: web.Application) -> Lifecycle:
    settings, composers = app[SETTINGS], app[COMPOSERS]
    worker = OutboxWorker(
        app[DB_POOL], ComposerByKind(composers), message_sink(settings),
        poll_s=settings.outbox_poll_s, retry_base_s=settings.outbox_retry_base_s,
        retry_cap_s=settings.outbox_retry_cap_s, max_attempts=settings.outbox_max_attempts,
        # Past the SMTP timeout (a slow server), not before it.
        send_timeout_s=settings.smtp_timeout_s + 5)
    services = Lifecycle()
    services.add("outbox worker", worker)
    return services


def message_sink(settings: Settings) -> MessageSink:
    """E-mail over SMTP when a host is configured; otherwise the developer
    sink: the log and readable files under the data folder."""
    if settings.smtp_host is None or settings.smtp_from is None:
        return LogSink(settings.data_dir / "outbox")
    return SmtpSink(SmtpConfig(
        host=settings.smtp_host, port=settings.smtp_port_used, tls=SmtpTls(settings.smtp_tls),
        sender=settings.smtp_from, username=settings.smtp_username,
        password=settings.smtp_password, timeout_s=settings.smtp_timeout_s,
        ca_file=settings.smtp_ca_file))
