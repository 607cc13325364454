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
from seatserver.outbox.messages import ComposerByKind, LogSink, MessageComposer
from seatserver.outbox.worker import OutboxWorker

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
    # Messages go to the log and to readable files under the data folder
    # until a real sender (mail, SMS) implements MessageSink.
    worker = OutboxWorker(
        app[DB_POOL], ComposerByKind(composers),
        LogSink(settings.data_dir / "outbox"),
        poll_s=settings.outbox_poll_s, retry_base_s=settings.outbox_retry_base_s,
        retry_cap_s=settings.outbox_retry_cap_s, max_attempts=settings.outbox_max_attempts)
    services = Lifecycle()
    services.add("outbox worker", worker)
    return services
