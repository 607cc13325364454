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
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
import orjson

from seatserver.catalog.models import (
    Movie,
    Price,
    PricedSeat,
    RatedMovie,
    Rating,
    Screen,
    Seat,
    SeatingRules,
    Showtime,
    ShowtimeDetail,
    ShowtimeLayout,
    ShowtimePage,
    ShowtimeSummary,
    Theater,
)
from seatserver.catalog.pricing import PriceRule, price_list
from seatserver.catalog.queries import (
    RATING_OF_MOVIE,
    MovieQuery,
    Position,
    ShowtimeQuery,
    decode_cursor,
    encode_cursor,
)
from seatserver.db import MAX_ID

log = logging.getLogger(__name__)

LAYOUT_TTL_S = 60.0
MISS_TTL_S = 5.0
LAYOUT_CACHE_SIZE = 4096
# The list form of GET /api/showtimes answers at most this many (pages don't).
LIST_MAX = 500
_SHOWTIME_FIELDS = [f.name for f in fields(Showtime)]
_MOVIE_FIELDS = [f.name for f in fields(Movie)]

_SHOWTIME_COLUMNS = """
    st.id, st.starts_at, st.ends_at, st.currency, st.no_orphans, st.companions_alone,
    m.id AS movie_id, m.title, m.synopsis, m.runtime_min, m.certificate, m.poster_url,
    m.languages, m.genres, m.slug AS movie_slug,
    t.id AS theater_id, t.name AS theater_name, t.city, t.address, t.time_zone,
    t.slug AS theater_slug, t.cleaning_min AS theater_cleaning_min,
    sc.id AS screen_id, sc.name AS screen_name, sc.layout::text AS screen_layout,
    -- What price_list needs, in one round trip with the showtime: the
    -- theater's rules and the showtime's overrides, each with its type's rank.
    (SELECT coalesce(json_agg(json_build_array(r.id, r.seat_type, r.day_kind, r.amount,
                                               r.currency, ty.rank)), '[]')::text
       FROM price_rules r JOIN seat_types ty ON ty.code = r.seat_type
      WHERE r.theater_id = t.id) AS rules,
    (SELECT coalesce(json_agg(json_build_array(p.seat_type, p.amount, ty.rank)), '[]')::text
       FROM showtime_prices p JOIN seat_types ty ON ty.code = p.seat_type
      WHERE p.showtime_id = st.id) AS overrides
FROM showtimes st
JOIN movies m ON m.id = st.movie_id
JOIN screens sc ON sc.id = st.screen_id
JOIN theaters t ON t.id = sc.theater_id
"""

# Every filter is optional: a NULL parameter matches everything. The date is
# the theater's local calendar day; the range on starts_at around it (wider
# than any UTC offset) lets the index narrow the rows first.
_FILTERS = """
    st.ends_at > now()
    AND ($1::bigint IS NULL OR st.movie_id = $1)
    AND ($2::bigint IS NULL OR t.id = $2)
    AND ($3::text IS NULL OR lower(t.city) = lower($3))
    AND ($4::date IS NULL OR (
        st.starts_at >= $4::date - interval '2 days' AND st.starts_at < $4::date + interval '3 days'
        AND (st.starts_at AT TIME ZONE t.time_zone)::date = $4))
    AND ($5::text IS NULL OR $5 = ANY (m.genres))
    AND ($6::bigint IS NULL OR st.screen_id = $6)
"""

_PAGE = f"""
SELECT {_SHOWTIME_COLUMNS}
WHERE {_FILTERS}
  AND ($7::timestamptz IS NULL OR (st.starts_at, st.id) > ($7, $8::bigint))
ORDER BY st.starts_at, st.id
LIMIT $9
"""

_NOW_SHOWING = f"""
SELECT m.id AS movie_id, m.title, m.synopsis, m.runtime_min, m.certificate, m.poster_url,
       m.languages, m.genres, m.slug AS movie_slug, rt.average, rt.count
FROM movies m
CROSS JOIN LATERAL ({RATING_OF_MOVIE.format(movie="m.id")}) rt
WHERE EXISTS (
    SELECT 1 FROM showtimes st
    JOIN screens sc ON sc.id = st.screen_id
    JOIN theaters t ON t.id = sc.theater_id
    WHERE st.movie_id = m.id AND {_FILTERS})
ORDER BY lower(m.title), m.id
"""

_MOVIE = f"""
SELECT m.id AS movie_id, m.title, m.synopsis, m.runtime_min, m.certificate, m.poster_url,
       m.languages, m.genres, m.slug AS movie_slug, rt.average, rt.count
FROM movies m
CROSS JOIN LATERAL ({RATING_OF_MOVIE.format(movie="m.id")}) rt
WHERE m.id = $1
"""

# The layouts of many showtimes in two queries (a listing's page), not two each.
_LAYOUT_HEADS = """
SELECT st.id, st.screen_id, st.no_orphans, st.companions_alone,
       coalesce(sc.layout->>'screen', 'top') AS screen
FROM showtimes st JOIN screens sc ON sc.id = st.screen_id
WHERE st.id = ANY($1::bigint[])
"""
_SCREEN_SEATS = """
SELECT s.screen_id, s.seat_id, s."row", s.number, s.seat_type, s.x, s.y, s.accessible,
       s.companion_of
FROM seats s
WHERE s.screen_id = ANY($1::bigint[])
ORDER BY s.screen_id, s.y, s.x
"""

_SEATS = """
SELECT s.seat_id, s."row", s.number, s.seat_type, s.x, s.y, s.accessible, s.companion_of
FROM showtimes st
JOIN seats s ON s.screen_id = st.screen_id
WHERE st.id = $1
ORDER BY s.y, s.x
"""


class CatalogStore:
    """Reads of the catalog: listings, seat maps with prices, cached layouts.

    ``sales_close`` is how long before the start sales close (what checkout
    enforces); showtimes carry the resulting ``sales_close_at``.
    """

    def __init__(self, pool: asyncpg.Pool, *,
                 sales_close: timedelta = timedelta(minutes=10)) -> None:
        self._pool = pool
        self._sales_close = sales_close
        # showtime id -> (expires at, monotonic; layout or None for "no such showtime")
        self._layouts: OrderedDict[int, tuple[float, ShowtimeLayout | None]] = OrderedDict()
        self._loading: dict[int, asyncio.Lock] = {}

    async def list_showtimes(self, query: ShowtimeQuery | None = None
                             ) -> list[ShowtimeSummary]:
        """Showtimes that have not ended yet, earliest first, at most ``LIST_MAX``
        (the list form of ``GET /api/showtimes``; ``find_showtimes`` pages)."""
        query = (query or ShowtimeQuery()).model_copy(update={"limit": LIST_MAX,
                                                              "cursor": None})
        return (await self.find_showtimes(query)).showtimes

    async def find_showtimes(self, query: ShowtimeQuery) -> ShowtimePage:
        """One page of the showtimes matching ``query``, earliest first.

        Free-seat counts are not filled in here (they live in Redis; see
        ``catalog.availability``). ``bad_cursor`` for a cursor of another query.
        """
        after = decode_cursor(query)
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                _PAGE, *_filter_args(query),
                after.starts_at if after else None, after.id if after else None,
                query.limit + 1)
        showtimes = [self._summary(row) for row in rows[:query.limit]]
        more = len(rows) > query.limit
        last = showtimes[-1] if showtimes else None
        cursor = (encode_cursor(query, Position(last.starts_at, last.id))
                  if more and last else None)
        return ShowtimePage(showtimes=showtimes, next_cursor=cursor)

    async def now_showing(self, query: MovieQuery | None = None) -> list[RatedMovie]:
        """Movies with a showtime that has not ended (and matches ``query``), by
        title, with the rating of their visible reviews."""
        query = query or MovieQuery()
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(_NOW_SHOWING, *_filter_args(query))
        return [_rated(row) for row in rows]

    async def movie(self, movie_id: int) -> RatedMovie | None:
        """One movie with its rating, showing or not; None if there is no such movie."""
        if not 0 < movie_id <= MAX_ID:
            return None
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(_MOVIE, movie_id)
        return None if row is None else _rated(row)

    async def movie_exists(self, movie_id: int) -> bool:
        if not 0 < movie_id <= MAX_ID:
            return False
        async with self._pool.acquire() as conn:
            return bool(await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM movies WHERE id = $1)", movie_id))

    async def showtime(self, showtime_id: int, conn: asyncpg.Connection | None = None
                       ) -> ShowtimeSummary | None:
        """One showtime without its seats (no free counts); on ``conn`` when
        given, to read inside the caller's transaction."""
        if not 0 < showtime_id <= MAX_ID:
            return None
        if conn is None:
            async with self._pool.acquire() as own:
                return await self.showtime(showtime_id, own)
        row = await conn.fetchrow(f"SELECT {_SHOWTIME_COLUMNS} WHERE st.id = $1", showtime_id)
        return None if row is None else self._summary(row)

    async def prices(self, showtime_id: int) -> dict[str, Price] | None:
        """Seat type -> price of a showtime, as the seat map shows it; a type
        missing is not on sale. None if there is no such showtime. Checkout
        charges this (never a cached copy: a price change applies at once)."""
        summary = await self.showtime(showtime_id)
        return None if summary is None else summary.prices

    async def get_showtime(self, showtime_id: int) -> ShowtimeDetail | None:
        if not 0 < showtime_id <= MAX_ID:
            return None
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(f"SELECT {_SHOWTIME_COLUMNS} WHERE st.id = $1",
                                      showtime_id)
            if row is None:
                return None
            seat_rows = await conn.fetch(_SEATS, showtime_id)
        summary = self._summary(row)
        seats = [_priced_seat(r, summary.prices) for r in seat_rows]
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

    async def layouts(self, showtime_ids: Sequence[int]) -> dict[int, ShowtimeLayout | None]:
        """The layouts of many showtimes (None: no such showtime): the cached
        ones, and the rest in two queries together, whatever their number."""
        found: dict[int, ShowtimeLayout | None] = {}
        wanted: list[int] = []
        for showtime_id in dict.fromkeys(showtime_ids):
            cached = self._cached(showtime_id)
            if cached is not None:
                found[showtime_id] = cached[1]
            elif 0 < showtime_id <= MAX_ID:
                wanted.append(showtime_id)
            else:
                found[showtime_id] = None
        if wanted:
            loaded = await self._load_layouts(wanted)
            for showtime_id in wanted:
                layout = loaded.get(showtime_id)
                self._remember(showtime_id, layout)
                found[showtime_id] = layout
        return found

    async def _load_layouts(self, showtime_ids: list[int]) -> dict[int, ShowtimeLayout]:
        async with self._pool.acquire() as conn:
            heads = await conn.fetch(_LAYOUT_HEADS, showtime_ids)
            screens = sorted({head["screen_id"] for head in heads})
            rows = await conn.fetch(_SCREEN_SEATS, screens) if screens else []
        seats_of: dict[int, dict[str, Seat]] = {screen: {} for screen in screens}
        for row in rows:
            seats_of[row["screen_id"]][row["seat_id"]] = _seat(row)
        return {head["id"]: _layout(head["id"], seats_of[head["screen_id"]], head)
                for head in heads}

    def invalidate(self, showtime_id: int | None = None) -> None:
        """Forget one cached layout, or all of them (after an edit of the catalog)."""
        if showtime_id is None:
            self._layouts.clear()
        else:
            self._layouts.pop(showtime_id, None)

    def _summary(self, row: asyncpg.Record) -> ShowtimeSummary:
        zone = _zone(row["time_zone"])
        starts_at: datetime = row["starts_at"].astimezone(zone)
        return ShowtimeSummary(
            id=row["id"],
            starts_at=starts_at,
            currency=row["currency"],
            movie=movie_from(row),
            theater=theater_from(row),
            screen=Screen(id=row["screen_id"], name=row["screen_name"],
                          layout=orjson.loads(row["screen_layout"])),
            prices=_price_list(row, zone),
            ends_at=row["ends_at"].astimezone(zone),
            sales_close_at=starts_at - self._sales_close,
            seating=SeatingRules(no_orphans=row["no_orphans"],
                                 companions_alone=row["companions_alone"]),
        )

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
            found = await conn.fetchrow(
                """SELECT st.no_orphans, st.companions_alone,
                          coalesce(sc.layout->>'screen', 'top') AS screen
                   FROM showtimes st JOIN screens sc ON sc.id = st.screen_id
                   WHERE st.id = $1""", showtime_id)
            if found is None:
                return None
            rows = await conn.fetch(_SEATS, showtime_id)
        return _layout(showtime_id, {r["seat_id"]: _seat(r) for r in rows}, found)


def _layout(showtime_id: int, seats: dict[str, Seat], head: asyncpg.Record) -> ShowtimeLayout:
    """A layout from its seats and a row with its screen and seating rules."""
    types: dict[str, int] = {}
    for seat in seats.values():
        types[seat.type] = types.get(seat.type, 0) + 1
    return ShowtimeLayout(showtime_id=showtime_id, seats=seats, types=types,
                          screen=head["screen"], no_orphans=head["no_orphans"],
                          companions_alone=head["companions_alone"])


def _rated(row: asyncpg.Record) -> RatedMovie:
    movie = movie_from(row)
    return RatedMovie(**{f: getattr(movie, f) for f in _MOVIE_FIELDS},
                      rating=Rating(row["average"], row["count"]))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r; showing times in UTC", name)
        return ZoneInfo("UTC")


def _filter_args(query: MovieQuery) -> tuple[object, ...]:
    """$1..$6 of _FILTERS."""
    if isinstance(query, ShowtimeQuery):
        return (query.movie, query.theater, query.city, query.date, query.genre, query.screen)
    return (None, query.theater, query.city, query.date, None, None)


def movie_from(row: asyncpg.Record) -> Movie:
    """A movie from a row with the showtime query's column names."""
    return Movie(id=row["movie_id"], title=row["title"], synopsis=row["synopsis"],
                 runtime_min=row["runtime_min"], certificate=row["certificate"],
                 poster_url=row["poster_url"], languages=list(row["languages"]),
                 genres=list(row["genres"]), slug=row["movie_slug"])


def theater_from(row: asyncpg.Record) -> Theater:
    """A theater from a row with the showtime query's column names."""
    return Theater(id=row["theater_id"], name=row["theater_name"], city=row["city"],
                   address=row["address"], time_zone=row["time_zone"],
                   slug=row["theater_slug"], cleaning_min=row["theater_cleaning_min"])


def _price_list(row: asyncpg.Record, zone: ZoneInfo) -> dict[str, Price]:
    """``price_list`` over the rules and overrides the showtime query brought along."""
    ranks: dict[str, int] = {}
    rules = []
    for rule_id, seat_type, kind, amount, currency, rank in orjson.loads(row["rules"]):
        rules.append(PriceRule(rule_id, row["theater_id"], seat_type, kind, amount, currency))
        ranks[seat_type] = rank
    overrides = {}
    for seat_type, amount, rank in orjson.loads(row["overrides"]):
        overrides[seat_type] = amount
        ranks[seat_type] = rank
    return price_list(starts_at=row["starts_at"], zone=zone, currency=row["currency"],
                      rules=rules, overrides=overrides,
                      type_order=sorted(ranks, key=ranks.__getitem__))


def _seat(row: asyncpg.Record) -> Seat:
    return Seat(id=row["seat_id"], row=row["row"], number=row["number"],
                type=row["seat_type"], x=row["x"], y=row["y"], accessible=row["accessible"],
                companion_of=row["companion_of"])


def _priced_seat(row: asyncpg.Record, prices: dict[str, Price]) -> PricedSeat:
    return PricedSeat(
        id=row["seat_id"], row=row["row"], number=row["number"], type=row["seat_type"],
        price=prices.get(row["seat_type"]), x=row["x"], y=row["y"],
        accessible=row["accessible"], companion_of=row["companion_of"],
    )
