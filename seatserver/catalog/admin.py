"""CatalogAdminStore: creating, changing and deleting the catalog.

The admin API wraps these methods; each takes a validated input model and
refuses what the database would otherwise hold wrong, with a coded error:
``invalid_input`` (a reference or value that does not fit), ``bad_layout``,
``already_exists`` (a slug or name taken), ``showtime_overlap`` (the
exclusion constraint refused it), ``in_use`` (bookings or showtimes still
need it) and ``not_found`` (the thing to change does not exist).

Each change takes the ``Actor`` who makes it (``SYSTEM`` by default, for
scripts and tests) and writes its audit row, with the entity before and after,
in the change's own transaction: a change is never without its row, nor a row
without its change.

A change that moves seats or prices invalidates the read side's layout cache
in this process; other processes see it within ``LAYOUT_TTL_S``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

import asyncpg
import orjson
from pydantic import BaseModel, ConfigDict

from seatserver.audit import SYSTEM, Actor, AuditEntry, write_audit
from seatserver.catalog.inputs import (
    MovieInput,
    PriceOverrideInput,
    PriceRuleInput,
    ScreenInput,
    ShowtimeInput,
    TheaterInput,
)
from seatserver.catalog.layouts import PlacedSeat, SeatLayout, layout_of
from seatserver.catalog.models import Movie, Price, ShowtimePage, ShowtimeSummary, Theater
from seatserver.catalog.pricing import PriceRule
from seatserver.catalog.queries import ShowtimeQuery
from seatserver.catalog.store import CatalogStore, movie_from, theater_from
from seatserver.errors import (
    AlreadyExists,
    InUse,
    InvalidInput,
    NotFound,
    ShowtimeOverlap,
)

_MOVIE_COLUMNS = """id AS movie_id, title, synopsis, runtime_min, certificate, poster_url,
                    languages, genres, slug AS movie_slug"""
_THEATER_COLUMNS = """id AS theater_id, name AS theater_name, city, address, time_zone,
                      slug AS theater_slug, cleaning_min AS theater_cleaning_min"""
_RULE_COLUMNS = "id, theater_id, seat_type, day_kind, amount, currency"

T = TypeVar("T")

# The showtime (if any) that keeps a new one off its screen, for the message.
_OVERLAPPING = """
SELECT st.id, st.starts_at, st.occupied, t.time_zone
FROM showtimes st JOIN screens sc ON sc.id = st.screen_id JOIN theaters t ON t.id = sc.theater_id
WHERE st.screen_id = $1 AND st.id <> $2
  AND st.occupied && tstzrange($3::timestamptz, $3::timestamptz + make_interval(
        mins => (SELECT runtime_min FROM movies WHERE id = $4) + $5), '[)')
ORDER BY st.starts_at LIMIT 1
"""

# Seats sold for showtimes of a screen that have not ended: a layout must keep them.
_SOLD_SEATS = """
SELECT DISTINCT bs.seat_id
FROM booking_seats bs JOIN showtimes st ON st.id = bs.showtime_id
WHERE st.screen_id = $1 AND bs.active AND st.ends_at > now()
ORDER BY bs.seat_id
"""


class ScreenDetail(BaseModel):
    """A screen as the admin edits it: its seat layout as a layout document."""

    model_config = ConfigDict(frozen=True)

    id: int
    theater_id: int
    name: str
    layout: SeatLayout


@dataclass(frozen=True, slots=True)
class ScreenName:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class TheaterScreens:
    theater: Theater
    screens: list[ScreenName]


@dataclass(frozen=True, slots=True)
class ShowtimePrices:
    """A showtime's prices (what the seat map shows) and which of them are
    its own overrides (seat type -> minor units) rather than the theater's rules."""

    showtime: int
    prices: dict[str, Price]
    overrides: dict[str, int]


# The entity a change starts from, read on the change's connection (None: no such row).
Loader = Callable[[asyncpg.Connection, int], Awaitable[object | None]]


class CatalogAdminStore:
    def __init__(self, pool: asyncpg.Pool, catalog: CatalogStore) -> None:
        self._pool = pool
        self._catalog = catalog

    # -- movies ---------------------------------------------------------------

    async def movies(self) -> list[Movie]:
        """Every movie, by title (the admin's pick list; a catalog is hundreds, not millions)."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(f"SELECT {_MOVIE_COLUMNS} FROM movies ORDER BY title, id")
        return [movie_from(r) for r in rows]

    async def get_movie(self, movie_id: int) -> Movie | None:
        async with self._pool.acquire() as conn:
            return await _movie(conn, movie_id)

    async def create_movie(self, data: MovieInput, by: Actor = SYSTEM) -> Movie:
        async with self._change() as conn, _taken("a movie with this slug"):
            row = await conn.fetchrow(
                f"""INSERT INTO movies (slug, title, synopsis, runtime_min, certificate,
                                        poster_url, languages, genres, released_on)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {_MOVIE_COLUMNS}""",
                *_movie_values(data))
            movie = movie_from(row)
            await write_audit(conn, AuditEntry(by, "movie.created", None, movie))
        return movie

    async def update_movie(self, movie_id: int, data: MovieInput, by: Actor = SYSTEM) -> Movie:
        """Replace a movie's facts. A new runtime moves the end of its showtimes,
        and is refused (``showtime_overlap``) if two would then overlap."""
        async with self._change() as conn, _taken("a movie with this slug"):
            before = _existing(await _movie(conn, movie_id, lock=True), f"movie {movie_id}")
            try:
                row = await conn.fetchrow(
                    f"""UPDATE movies SET slug = $1, title = $2, synopsis = $3,
                               runtime_min = $4, certificate = $5, poster_url = $6,
                               languages = $7, genres = $8, released_on = $9
                        WHERE id = $10 RETURNING {_MOVIE_COLUMNS}""",
                    *_movie_values(data), movie_id)
            except asyncpg.ExclusionViolationError:
                raise ShowtimeOverlap(
                    f"a runtime of {data.runtime_min} min would make showtimes of this "
                    "movie overlap the next show on their screen") from None
            movie = movie_from(row)
            await write_audit(conn, AuditEntry(by, "movie.updated", before, movie))
        self._catalog.invalidate()
        return movie

    async def delete_movie(self, movie_id: int, by: Actor = SYSTEM) -> None:
        await self._delete("movies", movie_id, "movie", "it has showtimes", _movie, by)

    # -- theaters -------------------------------------------------------------

    async def theaters(self) -> list[TheaterScreens]:
        """Every theater with its screens' ids and names, by city and name."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(f"SELECT {_THEATER_COLUMNS} FROM theaters ORDER BY city, name")
            screens = await conn.fetch("SELECT id, theater_id, name FROM screens ORDER BY name")
        by_theater: dict[int, list[ScreenName]] = {}
        for s in screens:
            by_theater.setdefault(s["theater_id"], []).append(ScreenName(s["id"], s["name"]))
        return [TheaterScreens(theater_from(r), by_theater.get(r["theater_id"], []))
                for r in rows]

    async def get_theater(self, theater_id: int) -> Theater | None:
        async with self._pool.acquire() as conn:
            return await _theater(conn, theater_id)

    async def create_theater(self, data: TheaterInput, by: Actor = SYSTEM) -> Theater:
        async with self._change() as conn, _taken("a theater with this slug"):
            await _known_zone(conn, data.time_zone)
            row = await conn.fetchrow(
                f"""INSERT INTO theaters (slug, name, city, address, time_zone, cleaning_min)
                    VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_THEATER_COLUMNS}""",
                data.slug, data.name, data.city, data.address, data.time_zone,
                data.cleaning_min)
            theater = theater_from(row)
            await write_audit(conn, AuditEntry(by, "theater.created", None, theater))
        return theater

    async def update_theater(self, theater_id: int, data: TheaterInput,
                             by: Actor = SYSTEM) -> Theater:
        """Replace a theater's facts. Its existing showtimes keep their cleaning gap;
        a new time zone changes which of them are weekend shows."""
        async with self._change() as conn, _taken("a theater with this slug"):
            await _known_zone(conn, data.time_zone)
            before = _existing(await _theater(conn, theater_id, lock=True),
                               f"theater {theater_id}")
            row = await conn.fetchrow(
                f"""UPDATE theaters SET slug = $1, name = $2, city = $3, address = $4,
                           time_zone = $5, cleaning_min = $6
                    WHERE id = $7 RETURNING {_THEATER_COLUMNS}""",
                data.slug, data.name, data.city, data.address, data.time_zone,
                data.cleaning_min, theater_id)
            theater = theater_from(row)
            await write_audit(conn, AuditEntry(by, "theater.updated", before, theater))
        return theater

    async def delete_theater(self, theater_id: int, by: Actor = SYSTEM) -> None:
        """Delete a theater with its screens and price rules; ``in_use`` while
        any of its screens has showtimes."""
        await self._delete("theaters", theater_id, "theater", "its screens have showtimes",
                           _theater, by)

    # -- screens --------------------------------------------------------------

    async def get_screen(self, screen_id: int) -> ScreenDetail | None:
        async with self._pool.acquire() as conn:
            return await _screen(conn, screen_id)

    async def create_screen(self, data: ScreenInput, by: Actor = SYSTEM) -> ScreenDetail:
        async with self._change() as conn:
            await _known_seat_types(conn, data.layout)
            with _taken("this theater already has a screen of this name"):
                screen_id = await conn.fetchval(
                    """INSERT INTO screens (theater_id, name, layout) VALUES ($1, $2, $3::jsonb)
                       RETURNING id""",
                    data.theater_id, data.name, _hints(data.layout))
            await _insert_seats(conn, screen_id, data.layout.seats)
            screen = await _existing_screen(conn, screen_id)
            await write_audit(conn, AuditEntry(by, "screen.created", None, screen))
        return screen

    async def update_screen(self, screen_id: int, data: ScreenInput,
                            by: Actor = SYSTEM) -> ScreenDetail:
        """Rename a screen and replace its layout (see ``replace_layout``); a
        screen stays in its theater."""
        async with self._change() as conn:
            before = await _existing_screen(conn, screen_id, lock=True)
            if before.theater_id != data.theater_id:
                raise InvalidInput("theater_id: a screen cannot move to another theater")
            with _taken("this theater already has a screen of this name"):
                await conn.execute("UPDATE screens SET name = $2 WHERE id = $1",
                                   screen_id, data.name)
            screen = await self._replace_layout(conn, screen_id, data.layout)
            await write_audit(conn, AuditEntry(by, "screen.updated", before, screen))
        return screen

    async def replace_layout(self, screen_id: int, layout: SeatLayout,
                             by: Actor = SYSTEM) -> ScreenDetail:
        """Give a screen a new seat layout.

        Refused (``in_use``, naming the seats) when a seat sold for a showtime
        of this screen that has not ended would disappear or change its id;
        anything else may change, sold seats' types and positions included (a
        booking keeps the price it was sold at).
        """
        async with self._change() as conn:
            before = await _existing_screen(conn, screen_id, lock=True)
            screen = await self._replace_layout(conn, screen_id, layout)
            await write_audit(conn, AuditEntry(by, "screen.updated", before, screen))
        return screen

    async def _replace_layout(self, conn: asyncpg.Connection, screen_id: int,
                              layout: SeatLayout) -> ScreenDetail:
        await _known_seat_types(conn, layout)
        # Locking the screen's showtimes makes a concurrent checkout (whose
        # booking_seats rows reference them) wait until this commits.
        await conn.execute("SELECT 1 FROM showtimes WHERE screen_id = $1 FOR UPDATE",
                           screen_id)
        kept = {s.seat_id for s in layout.seats}
        sold = [r["seat_id"] for r in await conn.fetch(_SOLD_SEATS, screen_id)]
        lost = [s for s in sold if s not in kept]
        if lost:
            raise InUse(f"seats sold for coming showtimes would disappear: {', '.join(lost)}",
                        lost)
        await conn.execute("DELETE FROM seats WHERE screen_id = $1", screen_id)
        await _insert_seats(conn, screen_id, layout.seats)
        await conn.execute("UPDATE screens SET layout = $2::jsonb WHERE id = $1",
                           screen_id, _hints(layout))
        self._catalog.invalidate()
        return await _existing_screen(conn, screen_id)

    async def delete_screen(self, screen_id: int, by: Actor = SYSTEM) -> None:
        await self._delete("screens", screen_id, "screen", "it has showtimes", _screen, by)

    # -- showtimes ------------------------------------------------------------

    async def create_showtime(self, data: ShowtimeInput, by: Actor = SYSTEM
                              ) -> ShowtimeSummary:
        """Schedule a movie on a screen; ``showtime_overlap`` when the screen is
        busy then (the movie's runtime plus the cleaning gap)."""
        _not_past(data.starts_at)
        async with self._change() as conn:
            theater = await _screen_theater(conn, data.screen_id)
            currency = await _currency(conn, theater["id"], data.currency)
            cleaning = theater["cleaning_min"] if data.cleaning_min is None else data.cleaning_min
            async with self._overlap(conn, data, cleaning, showtime_id=0):
                showtime_id = await conn.fetchval(
                    """INSERT INTO showtimes (movie_id, screen_id, starts_at, currency,
                                              cleaning_min, no_orphans, companions_alone)
                       VALUES ($1, $2, $3, $4, $5, coalesce($6, true), coalesce($7, false))
                       RETURNING id""",
                    data.movie_id, data.screen_id, data.starts_at, currency, cleaning,
                    data.no_orphans, data.companions_alone)
            showtime = await self._showtime(conn, showtime_id)
            await write_audit(conn, AuditEntry(by, "showtime.created", None, showtime))
        return showtime

    async def get_showtime(self, showtime_id: int) -> ShowtimeSummary | None:
        return await self._catalog.showtime(showtime_id)

    async def showtimes(self, query: ShowtimeQuery) -> ShowtimePage:
        """A page of the showtimes that have not ended, as the public query pages them."""
        return await self._catalog.find_showtimes(query)

    async def update_showtime(self, showtime_id: int, data: ShowtimeInput,
                              by: Actor = SYSTEM) -> ShowtimeSummary:
        """Reschedule a showtime. Once it has sold seats only its start may
        change (``in_use`` otherwise): its buyers bought that movie on that screen."""
        _not_past(data.starts_at)
        async with self._change() as conn:
            current = await conn.fetchrow(
                "SELECT movie_id, screen_id, currency, cleaning_min FROM showtimes "
                "WHERE id = $1 FOR UPDATE", showtime_id)
            if current is None:
                raise NotFound(f"there is no showtime {showtime_id}")
            before = await self._showtime(conn, showtime_id)
            theater = await _screen_theater(conn, data.screen_id)
            currency = await _currency(conn, theater["id"], data.currency or current["currency"])
            cleaning = current["cleaning_min"] if data.cleaning_min is None else data.cleaning_min
            changed = (current["movie_id"], current["screen_id"], current["currency"]) != (
                data.movie_id, data.screen_id, currency)
            if changed and await _sold(conn, showtime_id):
                raise InUse("this showtime has sold seats: only its start can change")
            async with self._overlap(conn, data, cleaning, showtime_id=showtime_id):
                await conn.execute(
                    """UPDATE showtimes SET movie_id = $2, screen_id = $3, starts_at = $4,
                              currency = $5, cleaning_min = $6,
                              no_orphans = coalesce($7, no_orphans),
                              companions_alone = coalesce($8, companions_alone)
                       WHERE id = $1""",
                    showtime_id, data.movie_id, data.screen_id, data.starts_at, currency,
                    cleaning, data.no_orphans, data.companions_alone)
            showtime = await self._showtime(conn, showtime_id)
            await write_audit(conn, AuditEntry(by, "showtime.updated", before, showtime))
        self._catalog.invalidate(showtime_id)
        return showtime

    async def delete_showtime(self, showtime_id: int, by: Actor = SYSTEM) -> None:
        await self._delete("showtimes", showtime_id, "showtime", "it has bookings",
                           lambda conn, row_id: self._catalog.showtime(row_id, conn), by)
        self._catalog.invalidate(showtime_id)

    @asynccontextmanager
    async def _overlap(self, conn: asyncpg.Connection, data: ShowtimeInput, cleaning: int,
                       *, showtime_id: int) -> AsyncIterator[None]:
        """Turn the exclusion constraint's refusal into a message naming the show in the way."""
        try:
            async with conn.transaction():
                yield
        except asyncpg.ForeignKeyViolationError:
            raise InvalidInput(f"movie_id: there is no movie {data.movie_id}") from None
        except (asyncpg.ExclusionViolationError, asyncpg.UniqueViolationError):
            other = await conn.fetchrow(_OVERLAPPING, data.screen_id, showtime_id,
                                        data.starts_at, data.movie_id, cleaning)
            raise ShowtimeOverlap(_overlap_message(other)) from None

    async def _showtime(self, conn: asyncpg.Connection, showtime_id: int) -> ShowtimeSummary:
        return _existing(await self._catalog.showtime(showtime_id, conn),
                         f"showtime {showtime_id}")

    # -- prices ---------------------------------------------------------------

    async def price_rules(self, theater_id: int) -> list[PriceRule]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                f"""SELECT {_RULE_COLUMNS} FROM price_rules r
                    JOIN seat_types ty ON ty.code = r.seat_type
                    WHERE theater_id = $1 ORDER BY ty.rank, day_kind""", theater_id)
        return [_rule(r) for r in rows]

    async def get_price_rule(self, rule_id: int) -> PriceRule | None:
        async with self._pool.acquire() as conn:
            return await _price_rule(conn, rule_id)

    async def set_price_rule(self, data: PriceRuleInput, by: Actor = SYSTEM
                             ) -> tuple[PriceRule, bool]:
        """Create or replace the theater's price of a seat type on a kind of day;
        returns the rule and whether it is new. A theater prices in one
        currency: a rule in another is refused."""
        async with self._change() as conn:
            theater = await conn.fetchval(
                "SELECT id FROM theaters WHERE id = $1 FOR UPDATE", data.theater_id)
            if theater is None:
                raise InvalidInput(f"theater_id: there is no theater {data.theater_id}")
            await _known_seat_type(conn, data.seat_type)
            others = await conn.fetch(
                "SELECT DISTINCT currency FROM price_rules WHERE theater_id = $1 "
                "AND (seat_type, day_kind) <> ($2, $3)",
                data.theater_id, data.seat_type, data.day_kind)
            if others and {r["currency"] for r in others} != {data.currency}:
                theirs = ", ".join(sorted(r["currency"] for r in others))
                raise InvalidInput(f"currency: this theater's prices are in {theirs}")
            old = await conn.fetchrow(
                f"""SELECT {_RULE_COLUMNS} FROM price_rules
                    WHERE (theater_id, seat_type, day_kind) = ($1, $2, $3)""",
                data.theater_id, data.seat_type, data.day_kind)
            row = await conn.fetchrow(
                f"""INSERT INTO price_rules (theater_id, seat_type, day_kind, amount, currency)
                    VALUES ($1, $2, $3, $4, $5)
                    ON CONFLICT (theater_id, seat_type, day_kind)
                    DO UPDATE SET amount = EXCLUDED.amount, currency = EXCLUDED.currency
                    RETURNING {_RULE_COLUMNS}""",
                data.theater_id, data.seat_type, data.day_kind, data.amount, data.currency)
            rule = _rule(row)
            before = None if old is None else _rule(old)
            await write_audit(conn, AuditEntry(by, "price_rule.set", before, rule))
        return rule, old is None

    async def delete_price_rule(self, rule_id: int, by: Actor = SYSTEM) -> None:
        await self._delete("price_rules", rule_id, "price rule", "", _price_rule, by)

    async def showtime_prices(self, showtime_id: int) -> ShowtimePrices:
        async with self._pool.acquire() as conn:
            return await self._prices(conn, showtime_id)

    async def set_price_override(self, showtime_id: int, data: PriceOverrideInput,
                                 by: Actor = SYSTEM) -> ShowtimePrices:
        """Price one seat type of one showtime apart from the rules; returns its prices."""
        async with self._change() as conn:
            before = await self._prices(conn, showtime_id, lock=True)
            await _known_seat_type(conn, data.seat_type)
            await conn.execute(
                """INSERT INTO showtime_prices (showtime_id, seat_type, amount) VALUES ($1, $2, $3)
                   ON CONFLICT (showtime_id, seat_type) DO UPDATE SET amount = EXCLUDED.amount""",
                showtime_id, data.seat_type, data.amount)
            return await self._priced(conn, by, "showtime.price_set", before)

    async def delete_price_override(self, showtime_id: int, seat_type: str,
                                    by: Actor = SYSTEM) -> ShowtimePrices:
        """Back to the rules for that seat type; returns the showtime's prices."""
        async with self._change() as conn:
            before = await self._prices(conn, showtime_id, lock=True)
            await conn.execute(
                "DELETE FROM showtime_prices WHERE showtime_id = $1 AND seat_type = $2",
                showtime_id, seat_type)
            return await self._priced(conn, by, "showtime.price_reset", before)

    async def _prices(self, conn: asyncpg.Connection, showtime_id: int, *,
                      lock: bool = False) -> ShowtimePrices:
        if lock:  # a second admin's change to these prices waits for ours
            await conn.execute("SELECT 1 FROM showtimes WHERE id = $1 FOR UPDATE", showtime_id)
        showtime = await self._showtime(conn, showtime_id)
        rows = await conn.fetch(
            "SELECT seat_type, amount FROM showtime_prices WHERE showtime_id = $1", showtime_id)
        return ShowtimePrices(showtime=showtime_id, prices=showtime.prices,
                              overrides={r["seat_type"]: r["amount"] for r in rows})

    async def _priced(self, conn: asyncpg.Connection, by: Actor, action: str,
                      before: ShowtimePrices) -> ShowtimePrices:
        after = await self._prices(conn, before.showtime)
        await write_audit(conn, AuditEntry(by, action, before.prices, after.prices,
                                           note={"showtime_id": before.showtime}))
        return after

    # -- changing and deleting ----------------------------------------------

    @asynccontextmanager
    async def _change(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection in a transaction: the change and its audit row commit together."""
        async with self._pool.acquire() as conn, conn.transaction():
            yield conn

    async def _delete(self, table: str, row_id: int, what: str, in_use: str,
                      load: Loader, by: Actor) -> None:
        async with self._change() as conn:
            await conn.execute(f"SELECT 1 FROM {table} WHERE id = $1 FOR UPDATE", row_id)
            before = _existing(await load(conn, row_id), f"{what} {row_id}")
            try:
                await conn.execute(f"DELETE FROM {table} WHERE id = $1", row_id)
            except asyncpg.ForeignKeyViolationError:
                raise InUse(f"{what} {row_id} cannot be deleted: {in_use}") from None
            await write_audit(conn, AuditEntry(by, f"{what.replace(' ', '_')}.deleted",
                                               before, None))


class _taken:  # lower case: it reads as a clause, `with _taken("a movie ...")`
    """Map a unique violation to ``already_exists`` (sync and async ``with``)."""

    def __init__(self, what: str) -> None:
        self._what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is not None and issubclass(kind, asyncpg.UniqueViolationError):
            raise AlreadyExists(f"{self._what} already exists") from None

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self.__exit__(kind)


def _not_past(starts_at: datetime) -> None:
    if starts_at <= datetime.now(UTC):
        raise InvalidInput("starts_at: a showtime cannot be scheduled in the past")


def _overlap_message(other: asyncpg.Record | None) -> str:
    if other is None:  # gone by the time we looked
        return "the screen is busy at that time"
    zone = ZoneInfo(other["time_zone"])
    occupied = other["occupied"]
    start = other["starts_at"].astimezone(zone)
    free = occupied.upper.astimezone(zone)
    return (f"the screen is busy: showtime {other['id']} starts {start:%Y-%m-%d %H:%M} and "
            f"the screen is free again at {free:%Y-%m-%d %H:%M} ({zone.key}, cleaning included)")


async def _known_zone(conn: asyncpg.Connection, name: str) -> None:
    """PostgreSQL must know the zone too: listings filter dates in it."""
    try:
        await conn.fetchval("SELECT now() AT TIME ZONE $1", name)
    except asyncpg.InvalidParameterValueError:
        raise InvalidInput(f"time_zone: {name!r} is unknown to the database") from None


async def _known_seat_types(conn: asyncpg.Connection, layout: SeatLayout) -> None:
    known = [r["code"] for r in await conn.fetch("SELECT code FROM seat_types")]
    layout.check_types(known)


async def _known_seat_type(conn: asyncpg.Connection, seat_type: str) -> None:
    if not await conn.fetchval("SELECT 1 FROM seat_types WHERE code = $1", seat_type):
        raise InvalidInput(f"seat_type: there is no seat type {seat_type!r}")


async def _screen_theater(conn: asyncpg.Connection, screen_id: int) -> asyncpg.Record:
    theater = await conn.fetchrow(
        """SELECT t.id, t.cleaning_min FROM screens sc JOIN theaters t ON t.id = sc.theater_id
           WHERE sc.id = $1""", screen_id)
    if theater is None:
        raise InvalidInput(f"screen_id: there is no screen {screen_id}")
    return theater


async def _currency(conn: asyncpg.Connection, theater_id: int, wanted: str | None) -> str:
    """The showtime's currency: the one its theater prices in (or the one asked
    for, if the theater has no rules yet)."""
    rows = await conn.fetch("SELECT DISTINCT currency FROM price_rules WHERE theater_id = $1",
                            theater_id)
    priced: list[str] = sorted(r["currency"] for r in rows)
    if wanted is None:
        if len(priced) != 1:
            raise InvalidInput("currency: the theater has no price rules to take it from; "
                               "give the currency")
        return priced[0]
    if priced and wanted not in priced:
        raise InvalidInput(f"currency: this theater's prices are in {', '.join(priced)}")
    return wanted


async def _sold(conn: asyncpg.Connection, showtime_id: int) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM booking_seats WHERE showtime_id = $1 AND active)",
        showtime_id))


def _hints(layout: SeatLayout) -> str:
    text: str = orjson.dumps(layout.hints()).decode()
    return text


async def _insert_seats(conn: asyncpg.Connection, screen_id: int,
                        seats: Sequence[PlacedSeat]) -> None:
    await conn.executemany(
        """INSERT INTO seats (screen_id, seat_id, "row", number, seat_type, x, y, accessible,
                              companion_of)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        [(screen_id, s.seat_id, s.row, s.number, s.seat_type, s.x, s.y, s.accessible,
          s.companion_of) for s in seats])


def _existing(thing: T | None, what: str) -> T:
    if thing is None:
        raise NotFound(f"there is no {what}")
    return thing


def _for_update(lock: bool) -> str:
    return " FOR UPDATE" if lock else ""


async def _movie(conn: asyncpg.Connection, movie_id: int, *, lock: bool = False
                 ) -> Movie | None:
    row = await conn.fetchrow(
        f"SELECT {_MOVIE_COLUMNS} FROM movies WHERE id = $1{_for_update(lock)}", movie_id)
    return None if row is None else movie_from(row)


async def _theater(conn: asyncpg.Connection, theater_id: int, *, lock: bool = False
                   ) -> Theater | None:
    row = await conn.fetchrow(
        f"SELECT {_THEATER_COLUMNS} FROM theaters WHERE id = $1{_for_update(lock)}",
        theater_id)
    return None if row is None else theater_from(row)


async def _price_rule(conn: asyncpg.Connection, rule_id: int) -> PriceRule | None:
    row = await conn.fetchrow(f"SELECT {_RULE_COLUMNS} FROM price_rules WHERE id = $1",
                              rule_id)
    return None if row is None else _rule(row)


async def _screen(conn: asyncpg.Connection, screen_id: int, *, lock: bool = False
                  ) -> ScreenDetail | None:
    row = await conn.fetchrow(
        "SELECT id, theater_id, name, layout->>'screen' AS side FROM screens "
        f"WHERE id = $1{_for_update(lock)}", screen_id)
    if row is None:
        return None
    seats = await conn.fetch(
        """SELECT seat_id, "row", number, seat_type, x, y, accessible, companion_of
           FROM seats WHERE screen_id = $1""", screen_id)
    placed = [PlacedSeat(s["seat_id"], s["row"], s["number"], s["seat_type"], s["x"], s["y"],
                         s["accessible"], s["companion_of"]) for s in seats]
    side = row["side"] if row["side"] in ("top", "bottom") else "top"
    return ScreenDetail(id=row["id"], theater_id=row["theater_id"], name=row["name"],
                        layout=layout_of(placed, side))


async def _existing_screen(conn: asyncpg.Connection, screen_id: int, *,
                          lock: bool = False) -> ScreenDetail:
    return _existing(await _screen(conn, screen_id, lock=lock), f"screen {screen_id}")


def _movie_values(data: MovieInput) -> tuple[object, ...]:
    return (data.slug, data.title, data.synopsis, data.runtime_min, data.certificate,
            data.poster_url, data.languages, data.genres, data.released_on)


def _rule(row: asyncpg.Record) -> PriceRule:
    return PriceRule(id=row["id"], theater_id=row["theater_id"], seat_type=row["seat_type"],
                     day_kind=row["day_kind"], amount=row["amount"], currency=row["currency"])
