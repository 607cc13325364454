"""Catalog fixtures: a venue of its own per test (the database lives for the session)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from redis.asyncio import Redis

from seatserver.catalog.admin import CatalogAdminStore, ScreenDetail
from seatserver.catalog.inputs import (
    MovieInput,
    PriceRuleInput,
    ScreenInput,
    ShowtimeInput,
    TheaterInput,
)
from seatserver.catalog.models import Movie, ShowtimeSummary, Theater
from seatserver.catalog.store import CatalogStore
from seatserver.holds import HoldEngine

BERLIN = ZoneInfo("Europe/Berlin")

# Row A: a wheelchair space with its companion, an aisle, two gold seats;
# row B: two VIP seats.
SMALL_LAYOUT: dict[str, Any] = {"rows": [
    {"row": "A", "seats": [{"number": 1, "type": "silver", "accessible": True},
                           {"number": 2, "type": "silver", "companion_of": "A1"},
                           {"gap": 1},
                           {"number": 3, "type": "gold"}, {"number": 4, "type": "gold"}]},
    {"row": "B", "seats": [{"number": 1, "type": "vip"}, {"number": 2, "type": "vip"}]},
]}
WEEKDAY = {"silver": 800, "gold": 1000, "vip": 1500}
WEEKEND = {"silver": 900, "gold": 1200, "vip": 1700}


def local(text: str, zone: ZoneInfo = BERLIN) -> datetime:
    """'2027-03-26 23:30' on the wall clocks of ``zone``."""
    return datetime.fromisoformat(text).replace(tzinfo=zone)


@dataclass
class Venue:
    """A theater of this test's own: two screens, a movie of 100 min, price rules."""

    admin: CatalogAdminStore
    catalog: CatalogStore
    theater: Theater
    screens: list[ScreenDetail]
    movie: Movie

    async def show(self, starts_at: datetime, screen: int = 0, **kwargs: Any
                   ) -> ShowtimeSummary:
        return await self.admin.create_showtime(ShowtimeInput(
            movie_id=kwargs.pop("movie_id", self.movie.id),
            screen_id=self.screens[screen].id, starts_at=starts_at, **kwargs))


@pytest.fixture
def catalog(db_pool: asyncpg.Pool) -> CatalogStore:
    return CatalogStore(db_pool)


@pytest.fixture
def admin(db_pool: asyncpg.Pool, catalog: CatalogStore) -> CatalogAdminStore:
    return CatalogAdminStore(db_pool, catalog)


async def make_venue(admin: CatalogAdminStore, catalog: CatalogStore, *,
                     time_zone: str = "Europe/Berlin", city: str = "Berlin") -> Venue:
    tag = secrets.token_hex(4)
    theater = await admin.create_theater(TheaterInput(
        slug=f"kino-{tag}", name=f"Kino {tag}", city=city, time_zone=time_zone))
    screens = [await admin.create_screen(ScreenInput(
        theater_id=theater.id, name=name, layout=SMALL_LAYOUT)) for name in ("1", "2")]
    movie = await admin.create_movie(MovieInput(
        slug=f"film-{tag}", title=f"Film {tag}", runtime_min=100, languages=["en"],
        genres=["drama"]))
    for kind, amounts in (("weekday", WEEKDAY), ("weekend", WEEKEND)):
        for seat_type, amount in amounts.items():
            await admin.set_price_rule(PriceRuleInput(
                theater_id=theater.id, seat_type=seat_type, day_kind=kind, amount=amount,
                currency="EUR"))
    return Venue(admin, catalog, theater, screens, movie)


@pytest.fixture
async def venue(admin: CatalogAdminStore, catalog: CatalogStore) -> Venue:
    return await make_venue(admin, catalog)


@pytest.fixture
async def engine(redis_url: str) -> AsyncIterator[HoldEngine]:
    redis = Redis.from_url(redis_url)
    engine = HoldEngine(redis, hold_ttl_ms=60_000, max_seats=10, stream_maxlen=1000,
                        backstop_ms=1000)
    yield engine
    await engine.close()
    await redis.aclose()
