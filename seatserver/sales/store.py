"""SalesStore: what showtimes sold, read from PostgreSQL (the system of record).

Terms, as every report and export uses them:

- **sold**: seats of bookings that are ``booked`` now (paid, not cancelled);
- **revenue**: the amounts of those bookings, in the showtime's currency;
- **refunds**: bookings with money given back (``payments.refunded_amount``),
  and how much;
- **capacity**: the seats of the showtime's screen; **occupancy** sold / capacity.

A showtime belongs to the day it starts on in its theater's time zone. Every
query finds its showtimes by ``starts_at`` (an index) within a window a day
wider than the range on each side (no zone is further than 14 hours from UTC),
then keeps the ones on the range's days. A showtime's figures are read from
indexes alone (migrations/0017; index-only scans): its bookings by
``bookings_showtime_sales_key`` (id, status, amount), its seats by
``booking_seats_showtime_sales_idx`` (booking, type, amount; also a seat's
history) joined to them by booking, and refunded payments by
``payments_refunded_idx``; never by reading all bookings, nor a showtime's
seats one booking at a time from the heap (``tests/sales/test_query_plans.py``).
A seat's ``showtime_id`` is its booking's (a foreign key since 0017), so
reading seats by showtime counts the same seats as reading them by booking.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from seatserver.errors import NotFound, UnknownShowtime
from seatserver.personal.cipher import USERS_EMAIL
from seatserver.personal.keys import PersonalKeys

# The showtimes of a range: $1/$2 the UTC window, $3/$4 the days, $5 a movie or NULL.
_SHOWTIMES = """
SELECT s.id, s.starts_at, s.currency, s.movie_id, m.title, t.name AS theater,
       t.time_zone, sc.name AS screen, s.screen_id,
       (s.starts_at AT TIME ZONE t.time_zone)::date AS day
FROM showtimes s
JOIN screens sc ON sc.id = s.screen_id
JOIN theaters t ON t.id = sc.theater_id
JOIN movies m ON m.id = s.movie_id
WHERE s.starts_at >= $1 AND s.starts_at < $2
  AND (s.starts_at AT TIME ZONE t.time_zone)::date BETWEEN $3 AND $4
  AND ($5::bigint IS NULL OR s.movie_id = $5)
"""

# A showtime's refunds: bookings with money given back, and how much.
_REFUNDS = """
SELECT count(DISTINCT b.id) AS refunds, coalesce(sum(p.refunded_amount), 0) AS refunded
FROM bookings b JOIN payments p ON p.booking_id = b.id
WHERE b.showtime_id = st.id AND b.status IN ('booked', 'cancelled')
  AND p.refunded_amount > 0
"""

# Each showtime's figures, per seat type where it matters. Seats are read by
# showtime (``bs.showtime_id = st.id``: index-only) and joined to the
# showtime's booked bookings, not fetched booking by booking.
_FIGURES = f"""
WITH st AS ({_SHOWTIMES})
SELECT st.*,
       (SELECT jsonb_object_agg(seat_type, n) FROM (
            SELECT seat_type, count(*) AS n FROM seats WHERE screen_id = st.screen_id
            GROUP BY seat_type) c) AS capacity,
       (SELECT jsonb_object_agg(seat_type, n) FROM (
            SELECT bs.seat_type, count(*) AS n
            FROM bookings b
            JOIN booking_seats bs ON bs.booking_id = b.id AND bs.showtime_id = st.id
            WHERE b.showtime_id = st.id AND b.status = 'booked'
            GROUP BY bs.seat_type) c) AS sold,
       (SELECT coalesce(sum(b.amount), 0) FROM bookings b
        WHERE b.showtime_id = st.id AND b.status = 'booked') AS revenue,
       r.refunds, r.refunded
FROM st
CROSS JOIN LATERAL ({_REFUNDS}) r
"""

SHOWTIME_SALES = _FIGURES + "ORDER BY st.starts_at, st.id LIMIT $6"

# Per day and movie: plain counts per showtime (no per-type JSON to add up).
# Refunds are summed per showtime for all of them at once (``ref``, what
# ``_REFUNDS`` counts for one): the planner may then hash the range's bookings
# against the few refunded payments instead of probing payments once per
# booking, a third of a month's time at a million bookings.
DAILY_SALES = f"""
WITH st AS ({_SHOWTIMES}),
cap AS (SELECT screen_id, count(*) AS n FROM seats
        WHERE screen_id IN (SELECT screen_id FROM st) GROUP BY screen_id),
ref AS (SELECT b.showtime_id, count(DISTINCT b.id) AS refunds,
               sum(p.refunded_amount) AS refunded
        FROM st
        JOIN bookings b ON b.showtime_id = st.id AND b.status IN ('booked', 'cancelled')
        JOIN payments p ON p.booking_id = b.id AND p.refunded_amount > 0
        GROUP BY b.showtime_id)
SELECT st.day, st.movie_id, st.title, st.currency, count(*) AS showtimes,
       sum(coalesce(cap.n, 0))::bigint AS capacity, sum(f.sold)::bigint AS sold,
       sum(f.revenue)::bigint AS revenue, coalesce(sum(r.refunds), 0)::bigint AS refunds,
       coalesce(sum(r.refunded), 0)::bigint AS refunded
FROM st
LEFT JOIN cap ON cap.screen_id = st.screen_id
LEFT JOIN ref r ON r.showtime_id = st.id
CROSS JOIN LATERAL (
    SELECT count(bs.seat_id) AS sold, coalesce(sum(bs.amount), 0) AS revenue
    FROM bookings b JOIN booking_seats bs ON bs.booking_id = b.id AND bs.showtime_id = st.id
    WHERE b.showtime_id = st.id AND b.status = 'booked') f
GROUP BY st.day, st.movie_id, st.title, st.currency
ORDER BY st.day, st.title, st.movie_id, st.currency
"""

BOOKING_ROWS = f"""
WITH st AS ({_SHOWTIMES})
SELECT b.reference, b.status, b.created_at, b.user_id, u.kind AS buyer_kind,
       u.email_sealed, u.email AS buyer_email, st.id AS showtime_id, st.starts_at, st.title,
       st.theater,
       st.screen, (SELECT string_agg(bs.seat_id, ' ' ORDER BY bs.seat_id)
                   FROM booking_seats bs WHERE bs.booking_id = b.id) AS seats,
       b.amount, b.currency,
       (SELECT coalesce(sum(p.refunded_amount), 0) FROM payments p
        WHERE p.booking_id = b.id) AS refunded
FROM st
JOIN bookings b ON b.showtime_id = st.id
JOIN users u ON u.id = b.user_id
ORDER BY st.starts_at, st.id, b.id
"""

SEAT_BOOKINGS = """
SELECT b.id, b.reference, b.status, b.created_at, b.user_id, u.kind, u.email,
       u.email_sealed
FROM booking_seats bs
JOIN bookings b ON b.id = bs.booking_id
JOIN users u ON u.id = b.user_id
WHERE bs.showtime_id = $1 AND bs.seat_id = $2
ORDER BY b.id
"""

SEAT_OF_SHOWTIME = """
SELECT EXISTS (SELECT 1 FROM seats WHERE screen_id = s.screen_id AND seat_id = $2)
FROM showtimes s WHERE s.id = $1
"""

SEAT_AUDIT = """
SELECT a.booking_id, a.at, a.actor, a.action, a.detail->>'reason' AS reason
FROM audit_log a WHERE a.booking_id = ANY($1::bigint[])
ORDER BY a.at, a.id
"""

# Widest a time zone is from UTC (+14:00 Kiribati, -12:00), with room to spare.
_ZONE_SLACK = dt.timedelta(hours=15)
SHOWTIMES_MAX = 1000


def window(start: dt.date, end: dt.date) -> tuple[Any, ...]:
    """The arguments of ``_SHOWTIMES`` for the days ``start`` to ``end``."""
    midnight = dt.datetime.combine(start, dt.time(), dt.UTC)
    after = dt.datetime.combine(end, dt.time(), dt.UTC) + dt.timedelta(days=1)
    return midnight - _ZONE_SLACK, after + _ZONE_SLACK, start, end


def _counts(raw: str | None) -> dict[str, int]:
    counts: dict[str, int] = orjson.loads(raw) if raw else {}
    return counts


def occupancy(sold: int, capacity: int) -> float:
    """Sold / capacity to four decimals (0 for a screen without seats)."""
    return round(sold / capacity, 4) if capacity else 0.0


@dataclass(frozen=True, slots=True)
class SeatSale:
    """One booking of a seat, with its buyer (the e-mail only of staff accounts)."""

    booking_id: int
    reference: str
    status: str
    created_at: dt.datetime
    user_id: int
    kind: str
    email: str | None


class SalesStore:
    def __init__(self, pool: asyncpg.Pool, keys: PersonalKeys) -> None:
        self._pool = pool
        self._keys = keys

    def _email(self, user_id: int, row: Mapping[str, Any], clear: str = "email") -> str | None:
        """The buyer's address: sealed at rest, or clear in a row not sealed yet."""
        sealed = row["email_sealed"]
        if sealed is None:
            value: str | None = row[clear]
            return value
        return self._keys.cipher.open(sealed, USERS_EMAIL, str(user_id))

    async def today(self, at: dt.datetime | None = None) -> dt.date:
        """The earliest calendar day of any theater at ``at`` (now): a
        report's default first day, so that every theater's today is in it
        (UTC's was already tomorrow in New York every evening). UTC's day
        with no theater."""
        at = at or dt.datetime.now(dt.UTC)
        async with self._pool.acquire() as conn:
            day: dt.date | None = await conn.fetchval(
                "SELECT min(($1::timestamptz AT TIME ZONE time_zone)::date) FROM theaters", at)
        return day or at.astimezone(dt.UTC).date()

    async def showtimes(self, start: dt.date, end: dt.date, movie: int | None
                        ) -> list[dict[str, Any]]:
        """Each showtime of the range (at most ``SHOWTIMES_MAX``, by start) and what it sold."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(SHOWTIME_SALES, *window(start, end), movie, SHOWTIMES_MAX)
        return [_showtime(row) for row in rows]

    async def daily(self, start: dt.date, end: dt.date, movie: int | None
                    ) -> list[dict[str, Any]]:
        """Per day and movie (and currency): showtimes, sales, revenue, occupancy, refunds."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(DAILY_SALES, *window(start, end), movie)
        return [{"day": row["day"].isoformat(), "movie_id": row["movie_id"],
                 "title": row["title"], "showtimes": row["showtimes"],
                 "capacity": row["capacity"], "sold": row["sold"],
                 "occupancy": occupancy(row["sold"], row["capacity"]),
                 "revenue": {"amount": row["revenue"], "currency": row["currency"]},
                 "refunds": row["refunds"],
                 "refunded": {"amount": row["refunded"], "currency": row["currency"]}}
                for row in rows]

    async def booking_rows(self, start: dt.date, end: dt.date, movie: int | None,
                           chunk: int = 1000) -> AsyncIterator[list[dict[str, Any]]]:
        """Every booking of the range's showtimes, ``chunk`` rows at a time
        (a cursor: an export of a busy quarter never sits whole in memory)."""
        async with self._pool.acquire() as conn, conn.transaction(readonly=True):
            cursor = await conn.cursor(BOOKING_ROWS, *window(start, end), movie)
            while rows := await cursor.fetch(chunk):
                yield [{**dict(r), "buyer_email": self._email(r["user_id"], r, "buyer_email")}
                       for r in rows]

    async def seat_sales(self, showtime: int, seat: str
                         ) -> tuple[list[SeatSale], list[asyncpg.Record]]:
        """Every booking of the seat in the showtime, and their audit rows;
        ``unknown_showtime`` or ``not_found`` (no such seat in its screen)."""
        async with self._pool.acquire() as conn:
            exists = await conn.fetchval(SEAT_OF_SHOWTIME, showtime, seat)
            if exists is None:
                raise UnknownShowtime(f"there is no showtime {showtime}")
            if not exists:
                raise NotFound(f"showtime {showtime} has no seat {seat}")
            sales = [SeatSale(booking_id=r["id"], reference=r["reference"], status=r["status"],
                              created_at=r["created_at"], user_id=r["user_id"], kind=r["kind"],
                              email=self._email(r["user_id"], r))
                     for r in await conn.fetch(SEAT_BOOKINGS, showtime, seat)]
            audit = await conn.fetch(SEAT_AUDIT, [s.booking_id for s in sales])
        return sales, audit

    async def users(self, ids: list[int]) -> dict[int, tuple[str, str | None]]:
        """Kind and e-mail of each user id that exists."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT id, kind, email, email_sealed FROM users WHERE id = ANY($1)", ids)
        return {r["id"]: (r["kind"], self._email(r["id"], r)) for r in rows}


def _showtime(row: asyncpg.Record) -> dict[str, Any]:
    capacity, sold = _counts(row["capacity"]), _counts(row["sold"])
    currency = row["currency"]
    return {"id": row["id"], "starts_at": row["starts_at"].isoformat(),
            "day": row["day"].isoformat(), "movie": {"id": row["movie_id"], "title": row["title"]},
            "theater": row["theater"], "time_zone": row["time_zone"], "screen": row["screen"],
            "capacity": capacity, "sold": {t: sold.get(t, 0) for t in capacity},
            "occupancy": occupancy(sum(sold.values()), sum(capacity.values())),
            "revenue": {"amount": row["revenue"], "currency": currency},
            "refunds": row["refunds"],
            "refunded": {"amount": row["refunded"], "currency": currency}}
