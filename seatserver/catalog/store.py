"""CatalogStore: showtimes, their seat maps and prices, from PostgreSQL.

``layout()`` sits on the WebSocket hot path (every subscribe and hold checks
its seat ids against it), so it answers from an in-process cache: layouts are
kept for ``LAYOUT_TTL_S`` and unknown showtimes for ``MISS_TTL_S`` (short, so a
showtime created meanwhile shows up soon; long enough that a client probing
ids cannot turn each message into a query). Concurrent misses of one
showtime share one query.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import fields
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
import orjson

from seatserver.catalog.models import (
    Movie,
    Price,
    PricedSeat,
    Screen,
    Seat,
    Showtime,
    ShowtimeDetail,
    ShowtimeLayout,
    ShowtimeSummary,
    Theater,
)

log = logging.getLogger(__name__)

LAYOUT_TTL_S = 60.0
MISS_TTL_S = 5.0
LAYOUT_CACHE_SIZE = 4096
# Ids beyond bigint cannot exist; asking PostgreSQL would only raise.
MAX_ID = 2**63 - 1
_SHOWTIME_FIELDS = [f.name for f in fields(Showtime)]

_SHOWTIME_COLUMNS = """
    st.id, st.starts_at, st.currency,
    m.id AS movie_id, m.title, m.synopsis, m.runtime_min, m.certificate, m.poster_url,
    t.id AS theater_id, t.name AS theater_name, t.city, t.address, t.time_zone,
    sc.id AS screen_id, sc.name AS screen_name, sc.layout::text AS screen_layout,
    -- json, not jsonb: it keeps the cheapest-first order of the aggregate.
    (SELECT coalesce(json_object_agg(p.seat_type, p.amount ORDER BY ty.rank), '{}')::text
       FROM showtime_prices p JOIN seat_types ty ON ty.code = p.seat_type
      WHERE p.showtime_id = st.id) AS prices
FROM showtimes st
JOIN movies m ON m.id = st.movie_id
JOIN screens sc ON sc.id = st.screen_id
JOIN theaters t ON t.id = sc.theater_id
"""

_SEATS = """
SELECT s.seat_id, s."row", s.number, s.seat_type, s.x, s.y, s.accessible, p.amount
FROM showtimes st
JOIN seats s ON s.screen_id = st.screen_id
LEFT JOIN showtime_prices p ON p.showtime_id = st.id AND p.seat_type = s.seat_type
WHERE st.id = $1
ORDER BY s.y, s.x
"""


class CatalogStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        # showtime id -> (expires at, monotonic; layout or None for "no such showtime")
        self._layouts: OrderedDict[int, tuple[float, ShowtimeLayout | None]] = OrderedDict()
        self._loading: dict[int, asyncio.Lock] = {}

    async def list_showtimes(self) -> list[ShowtimeSummary]:
        """Showtimes that have not ended yet, earliest first."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT {_SHOWTIME_COLUMNS}"
                " WHERE st.starts_at + make_interval(mins => m.runtime_min) > now()"
                " ORDER BY st.starts_at, st.id"
            )
        return [_summary(row) for row in rows]

    async def get_showtime(self, showtime_id: int) -> ShowtimeDetail | None:
        if not 0 < showtime_id <= MAX_ID:
            return None
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(f"SELECT {_SHOWTIME_COLUMNS} WHERE st.id = $1",
                                      showtime_id)
            if row is None:
                return None
            seat_rows = await conn.fetch(_SEATS, showtime_id)
        summary = _summary(row)
        seats = [_priced_seat(r, summary.currency) for r in seat_rows]
        return ShowtimeDetail(**{f: getattr(summary, f) for f in _SHOWTIME_FIELDS},
                              seats=seats)

    async def layout(self, showtime_id: int) -> ShowtimeLayout | None:
        """The showtime's seats, None if there is no such showtime; cached."""
        cached = self._cached(showtime_id)
        if cached is not None:
            return cached[1]
        lock = self._loading.setdefault(showtime_id, asyncio.Lock())
        try:
            async with lock:
                # Whoever held the lock before us may have loaded it already.
                cached = self._cached(showtime_id)
                if cached is not None:
                    return cached[1]
                layout = await self._load_layout(showtime_id)
                self._remember(showtime_id, layout)
                return layout
        finally:
            if not lock.locked():
                self._loading.pop(showtime_id, None)

    def invalidate(self, showtime_id: int | None = None) -> None:
        """Forget one cached layout, or all of them (after an edit of the catalog)."""
        if showtime_id is None:
            self._layouts.clear()
        else:
            self._layouts.pop(showtime_id, None)

    def _cached(self, showtime_id: int) -> tuple[float, ShowtimeLayout | None] | None:
        entry = self._layouts.get(showtime_id)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry

    def _remember(self, showtime_id: int, layout: ShowtimeLayout | None) -> None:
        ttl = LAYOUT_TTL_S if layout is not None else MISS_TTL_S
        self._layouts[showtime_id] = (time.monotonic() + ttl, layout)
        self._layouts.move_to_end(showtime_id)
        while len(self._layouts) > LAYOUT_CACHE_SIZE:
            self._layouts.popitem(last=False)

    async def _load_layout(self, showtime_id: int) -> ShowtimeLayout | None:
        if not 0 < showtime_id <= MAX_ID:
            return None
        async with self._pool.acquire() as conn:
            exists = await conn.fetchval("SELECT 1 FROM showtimes WHERE id = $1", showtime_id)
            if not exists:
                return None
            rows = await conn.fetch(_SEATS, showtime_id)
        seats = {r["seat_id"]: _seat(r) for r in rows}
        types: dict[str, int] = {}
        for seat in seats.values():
            types[seat.type] = types.get(seat.type, 0) + 1
        return ShowtimeLayout(showtime_id=showtime_id, seats=seats, types=types)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r; showing times in UTC", name)
        return ZoneInfo("UTC")


def _summary(row: asyncpg.Record) -> ShowtimeSummary:
    currency: str = row["currency"]
    starts_at: datetime = row["starts_at"]
    prices: dict[str, Any] = orjson.loads(row["prices"])
    return ShowtimeSummary(
        id=row["id"],
        starts_at=starts_at.astimezone(_zone(row["time_zone"])),
        currency=currency,
        movie=Movie(id=row["movie_id"], title=row["title"], synopsis=row["synopsis"],
                    runtime_min=row["runtime_min"], certificate=row["certificate"],
                    poster_url=row["poster_url"]),
        theater=Theater(id=row["theater_id"], name=row["theater_name"], city=row["city"],
                        address=row["address"], time_zone=row["time_zone"]),
        screen=Screen(id=row["screen_id"], name=row["screen_name"],
                      layout=orjson.loads(row["screen_layout"])),
        prices={kind: Price(int(amount), currency) for kind, amount in prices.items()},
    )


def _seat(row: asyncpg.Record) -> Seat:
    return Seat(id=row["seat_id"], row=row["row"], number=row["number"],
                type=row["seat_type"], x=row["x"], y=row["y"], accessible=row["accessible"])


def _priced_seat(row: asyncpg.Record, currency: str) -> PricedSeat:
    amount: int | None = row["amount"]
    return PricedSeat(
        id=row["seat_id"], row=row["row"], number=row["number"], type=row["seat_type"],
        price=None if amount is None else Price(amount, currency),
        x=row["x"], y=row["y"], accessible=row["accessible"],
    )
