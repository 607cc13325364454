"""The outbox: confirmations delivered once, retried with back-off, never doubled."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from seatserver.bookings.keys import Keyring
from seatserver.bookings.links import TicketLinks
from seatserver.bookings.messages import BookingComposer
from seatserver.bookings.store import BookingStore
from seatserver.bookings.tickets import TicketSigner
from seatserver.catalog.store import CatalogStore
from seatserver.db import create_pool
from seatserver.loadgen.client import SeatClient
from seatserver.outbox.messages import Attachment, LogSink, Message
from seatserver.outbox.worker import OutboxStore, OutboxWorker, backoff
from seatserver.personal.setup import stored_keys
from seatserver.settings import Settings
from tests.bookings.conftest import Buyer
from tests.bookings.test_calendar import parse_ics
from tests.test_cli import seatserver

BuyerFactory = Callable[..., Awaitable[Buyer]]


class RecordingSink:
    """A MessageSink that fails its first ``failures`` deliveries, then records."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.delivered: list[Message] = []

    async def deliver(self, message: Message) -> None:
        await asyncio.sleep(0.001)  # let other workers run meanwhile
        if self.failures:
            self.failures -= 1
            raise ConnectionError("mail server down")
        self.delivered.append(message)


async def _paid(buyer: Buyer, showtime: int, seats: list[str]) -> str:
    async with SeatClient(buyer.http, buyer.base, buyer.token) as client:
        assert (await client.hold(showtime, seats))["ok"] is True
    status, booking = await buyer.checkout(showtime, "k")
    assert status == 201, booking
    await buyer.pay(booking["checkout_url"], "pay")
    return str(booking["reference"])


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The servers' own outbox workers look once at start-up, then not for an
    hour: the tests send (or start a server that sends) themselves."""
    return settings.replace(outbox_poll_s=3600)


@pytest.fixture
async def buyer(buyer_at: BuyerFactory, base_url: str) -> Buyer:
    return await buyer_at(base_url)


@pytest.fixture
async def queued(buyer: Buyer, showtime: int, seats: list[str],
                 db_pool: asyncpg.Pool) -> str:
    """A paid booking whose confirmation is queued, unsent."""
    reference = await _paid(buyer, showtime, seats[:2])
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 1
    return reference


@pytest.fixture
async def worker_pools(database_url: str) -> AsyncIterator[list[asyncpg.Pool]]:
    pools = [await create_pool(database_url, 3) for _ in range(4)]
    yield pools
    for pool in pools:
        await pool.close()


async def _worker(pool: asyncpg.Pool, sink: Any, keys: Keyring, **knobs: float
                  ) -> OutboxWorker:
    composer = BookingComposer(BookingStore(pool, await stored_keys(pool)), CatalogStore(pool),
                               TicketSigner(keys),
                               TicketLinks(keys, "https://tickets.example.com"))
    return OutboxWorker(pool, composer, sink, poll_s=3600,
                        retry_base_s=knobs.get("base", 0.2), retry_cap_s=knobs.get("cap", 0.3),
                        max_attempts=int(knobs.get("attempts", 20)))


async def test_confirmation_is_written_by_the_log_sink_and_marked_sent(
        make_server: Any, buyer_at: BuyerFactory, showtime: int, seats: list[str],
        settings: Settings, db_pool: asyncpg.Pool, keys: Keyring) -> None:
    server = await make_server(outbox_poll_s=0.05)
    buyer = await buyer_at(str(server.make_url("/")).rstrip("/"))
    reference = await _paid(buyer, showtime, seats[:2])
    async with db_pool.acquire() as conn:
        for _ in range(250):  # the file is written first, then the row marked sent
            row = await conn.fetchrow("SELECT sent_at, attempts FROM outbox")
            if row["sent_at"] is not None:
                break
            await asyncio.sleep(0.02)
    assert row["sent_at"] is not None and row["attempts"] == 1
    (written,) = (settings.data_dir / "outbox").glob("*-booking_confirmed.txt")
    text = written.read_text()
    assert f"Subject: Your booking {reference} is confirmed" in text
    assert TicketSigner(keys).issue(reference) in text
    assert all(f"Row {seat[0]}, seat {seat[1:]}" in text for seat in seats[:2])


async def test_confirmation_names_the_show_in_local_time_with_the_link_and_calendar(
        make_server: Any, buyer_at: BuyerFactory, showtime: int, settings: Settings,
        db_pool: asyncpg.Pool, keys: Keyring) -> None:
    server = await make_server(outbox_poll_s=3600, public_url="https://tickets.example.com")
    buyer = await buyer_at(str(server.make_url("/")).rstrip("/"))
    reference = await _paid(buyer, showtime, ["E10", "E8", "E9"])
    sink = RecordingSink()
    assert await (await _worker(db_pool, sink, keys)).deliver_due() == 1
    (message,) = sink.delivered
    assert message.to == "buyer@example.com"  # the guest's address, given at checkout
    booking = await buyer.booking(reference)
    show = booking["show"]
    local = datetime.fromisoformat(show["starts_at"]).astimezone(ZoneInfo(show["time_zone"]))
    assert local.utcoffset() != timedelta(0)  # Berlin: the test would not tell UTC apart
    for part in (show["movie"], show["theater"], show["screen"], f"{local:%H:%M}",
                 str(local.tzname()), "€37.50"):
        assert part in message.text, part
    assert "UTC" not in message.text
    text = message.text
    assert text.index("Row E, seat 8") < text.index("Row E, seat 9") < text.index(
        "Row E, seat 10")
    link = TicketLinks(keys, "https://tickets.example.com").url(reference)
    assert link in text and booking["ticket_url"] == link
    (ics,) = message.attachments
    assert ics.filename == f"booking-{reference}.ics"
    assert ics.content_type.startswith("text/calendar")
    event = parse_ics(ics.data)
    assert event["SUMMARY"] == show["movie"]
    assert event["DTSTART"] == local.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    assert event["LOCATION"].startswith(f"{show['theater']}, {show['screen']}")
    assert "Row E, seat 8; Row E, seat 9; Row E, seat 10" in event["DESCRIPTION"]


async def test_log_sink_writes_attachments_beside_the_message(tmp_path: Any) -> None:
    sink = LogSink(tmp_path / "outbox")
    ics = Attachment("../booking-X.ics", "text/calendar", b"BEGIN:VCALENDAR\r\n")
    await sink.deliver(Message(9, "booking_confirmed", "a@b.co", "Hi", "Body\n", (ics,)))
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == [
        "00000009-booking_confirmed-_booking-X.ics", "00000009-booking_confirmed.txt"]
    assert sink.attachment_path(Message(9, "booking_confirmed", "", "", ""), ics
                                ).read_bytes() == b"BEGIN:VCALENDAR\r\n"


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff(n, 5, 60) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]


async def _wait(pool: asyncpg.Pool) -> float:
    """Seconds until the queued message's next attempt."""
    async with pool.acquire() as conn:
        return float(await conn.fetchval(
            "SELECT extract(epoch FROM next_attempt_at - now()) FROM outbox"))


async def _time_passes(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute("UPDATE outbox SET next_attempt_at = now()")


async def test_failed_delivery_is_retried_after_a_doubling_capped_backoff(
        queued: str, keys: Keyring, db_pool: asyncpg.Pool) -> None:
    sink = RecordingSink(failures=2)
    worker = await _worker(db_pool, sink, keys, base=1.0, cap=1.5)
    assert await worker.deliver_due() == 0
    async with db_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT attempts, last_error, sent_at FROM outbox")
    assert (row["attempts"], row["sent_at"]) == (1, None)
    assert "mail server down" in row["last_error"]
    assert 0.5 < await _wait(db_pool) <= 1.0  # the base
    assert await worker.deliver_due() == 0 and sink.failures == 1  # not due: not tried
    await _time_passes(db_pool)
    assert await worker.deliver_due() == 0
    assert 1.0 < await _wait(db_pool) <= 1.5  # doubled to 2 s, capped at 1.5 s
    await _time_passes(db_pool)
    assert await worker.deliver_due() == 1
    assert [m.subject.split(":")[0] for m in sink.delivered] == [
        f"Your booking {queued} is confirmed"]
    await _time_passes(db_pool)
    assert await worker.deliver_due() == 0  # sent means sent


async def test_several_workers_never_send_one_message_twice(
        queued: str, keys: Keyring, db_pool: asyncpg.Pool,
        worker_pools: list[asyncpg.Pool]) -> None:
    async with db_pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO outbox (kind, payload) VALUES ('booking_confirmed', $1)",
            [(json.dumps({"reference": queued}),)] * 119)
    sink = RecordingSink()
    workers = [await _worker(pool, sink, keys) for pool in worker_pools]
    sent = await asyncio.gather(*(w.deliver_due(limit=1000) for w in workers))
    assert sum(sent) == 120 and sum(1 for n in sent if n) >= 2, sent  # shared out
    counts = Counter(m.id for m in sink.delivered)
    assert len(counts) == 120 and set(counts.values()) == {1}
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0


async def test_log_sink_resending_a_message_rewrites_its_file(tmp_path: Any) -> None:
    sink = LogSink(tmp_path / "outbox")
    message = Message(7, "booking_confirmed", "user:1", "Hello", "Body\n")
    await sink.deliver(message)
    await sink.deliver(message)
    assert [p.name for p in (tmp_path / "outbox").iterdir()] == [
        "00000007-booking_confirmed.txt"]
    assert sink.path(message).read_text() == "To: user:1\nSubject: Hello\n\nBody\n"


async def test_message_that_keeps_failing_is_parked_dead_then_requeued_by_hand(
        queued: str, keys: Keyring, db_pool: asyncpg.Pool, database_url: str,
        caplog: pytest.LogCaptureFixture) -> None:
    sink = RecordingSink(failures=4)
    worker = await _worker(db_pool, sink, keys, attempts=3)
    for _ in range(3):
        await _time_passes(db_pool)
        assert await worker.deliver_due() == 0
    assert sink.failures == 1
    assert "is dead after 3 failed deliveries" in caplog.text
    (dead,) = await OutboxStore(db_pool).dead()
    assert (dead.kind, dead.payload, dead.attempts) == (
        "booking_confirmed", {"reference": queued}, 3)
    assert dead.last_error is not None and "mail server down" in dead.last_error

    await _time_passes(db_pool)
    assert await worker.deliver_due() == 0 and sink.failures == 1  # parked: not tried

    listed = seatserver("outbox", "dead", DATABASE_URL=database_url)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith(f"{dead.id}\tbooking_confirmed\t")
    assert "3 attempts" in listed.stdout and "mail server down" in listed.stdout
    again = seatserver("outbox", "retry", str(dead.id), DATABASE_URL=database_url)
    assert (again.returncode, again.stdout) == (0, f"queued again: {dead.id}\n")
    assert await OutboxStore(db_pool).dead() == []

    assert await worker.deliver_due() == 0  # the last failure the sink has in store
    await _time_passes(db_pool)
    assert await worker.deliver_due() == 1
    assert [m.id for m in sink.delivered] == [dead.id]
    nothing = seatserver("outbox", "retry", str(dead.id), DATABASE_URL=database_url)
    assert (nothing.returncode, nothing.stdout) == (1, "queued again: none\n")
