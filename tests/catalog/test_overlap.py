"""One screen shows one thing at a time: runtime plus cleaning, enforced by PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from seatserver.catalog.admin import CatalogAdminStore
from seatserver.catalog.inputs import MovieInput, ShowtimeInput
from seatserver.errors import InUse, InvalidInput, ShowtimeOverlap
from tests.catalog.conftest import Venue, local
from tests.catalog.test_layouts import sell

# The venue's movie runs 100 min and its theater cleans for 15: a 20:00 show
# keeps the screen until 21:55.
SHOW = "2027-06-01 20:00"


async def test_a_show_may_start_the_minute_the_previous_one_is_cleaned(venue: Venue) -> None:
    first = await venue.show(local(SHOW))
    second = await venue.show(local("2027-06-01 21:55"))

    assert first.ends_at == local("2027-06-01 21:40")
    assert second.starts_at == local("2027-06-01 21:55")


async def test_a_show_starting_during_the_cleaning_gap_is_refused(venue: Venue) -> None:
    first = await venue.show(local(SHOW))

    with pytest.raises(ShowtimeOverlap) as caught:
        await venue.show(local("2027-06-01 21:54"))

    assert caught.value.status == 409 and caught.value.code == "showtime_overlap"
    assert f"showtime {first.id} starts 2027-06-01 20:00" in caught.value.message
    assert "free again at 2027-06-01 21:55 (Europe/Berlin" in caught.value.message


async def test_a_show_ending_into_the_next_one_is_refused(venue: Venue) -> None:
    await venue.show(local(SHOW))

    # 18:06 + 100 min + 15 min cleaning = 20:01: one minute too long.
    with pytest.raises(ShowtimeOverlap):
        await venue.show(local("2027-06-01 18:06"))
    assert (await venue.show(local("2027-06-01 18:05"))).ends_at == local("2027-06-01 19:45")


async def test_the_same_start_on_the_same_screen_is_an_overlap(venue: Venue) -> None:
    await venue.show(local(SHOW))

    with pytest.raises(ShowtimeOverlap):
        await venue.show(local(SHOW))


async def test_the_same_time_on_another_screen_is_fine(venue: Venue) -> None:
    first = await venue.show(local(SHOW), screen=0)
    second = await venue.show(local(SHOW), screen=1)

    assert first.screen.id != second.screen.id


async def test_a_shorter_cleaning_gap_for_one_show_lets_the_next_start_sooner(
        venue: Venue) -> None:
    await venue.show(local(SHOW), cleaning_min=5)

    assert (await venue.show(local("2027-06-01 21:45"))).starts_at == local("2027-06-01 21:45")


async def test_a_move_onto_another_show_is_refused_and_changes_nothing(
        venue: Venue, admin: CatalogAdminStore) -> None:
    await venue.show(local(SHOW))
    later = await venue.show(local("2027-06-01 23:00"))

    with pytest.raises(ShowtimeOverlap):
        await admin.update_showtime(later.id, ShowtimeInput(
            movie_id=venue.movie.id, screen_id=venue.screens[0].id,
            starts_at=local("2027-06-01 21:00")))

    unchanged = await venue.catalog.showtime(later.id)
    assert unchanged is not None and unchanged.starts_at == local("2027-06-01 23:00")


async def test_a_move_of_a_show_over_its_own_old_slot_is_fine(
        venue: Venue, admin: CatalogAdminStore) -> None:
    show = await venue.show(local(SHOW))

    moved = await admin.update_showtime(show.id, ShowtimeInput(
        movie_id=venue.movie.id, screen_id=venue.screens[0].id,
        starts_at=local("2027-06-01 20:30")))

    assert moved.ends_at == local("2027-06-01 22:10")


async def test_a_longer_runtime_that_would_overlap_the_next_show_is_refused(
        venue: Venue, admin: CatalogAdminStore) -> None:
    await venue.show(local(SHOW))
    await venue.show(local("2027-06-01 22:00"))
    longer = MovieInput(slug=venue.movie.slug, title=venue.movie.title, runtime_min=110)

    with pytest.raises(ShowtimeOverlap):
        await admin.update_movie(venue.movie.id, longer)
    fits = await admin.update_movie(venue.movie.id, longer.model_copy(update={"runtime_min": 105}))

    assert fits.runtime_min == 105
    shows = (await venue.catalog.list_showtimes())
    mine = [s for s in shows if s.movie.id == venue.movie.id]
    assert [s.ends_at for s in mine] == [local("2027-06-01 21:45"), local("2027-06-01 23:45")]


async def test_a_raw_insert_is_held_to_the_same_rule(venue: Venue,
                                                     db_pool: asyncpg.Pool) -> None:
    await venue.show(local(SHOW))

    async with db_pool.acquire() as conn:
        with pytest.raises(asyncpg.ExclusionViolationError):
            await conn.execute(
                "INSERT INTO showtimes (movie_id, screen_id, starts_at, currency) "
                "VALUES ($1, $2, $3, 'EUR')",
                venue.movie.id, venue.screens[0].id, local(SHOW) + timedelta(minutes=90))


async def test_a_show_in_the_past_or_off_the_minute_is_refused(venue: Venue) -> None:
    with pytest.raises(InvalidInput, match="in the past"):
        await venue.show(local("2020-01-01 20:00"))
    with pytest.raises(ValueError, match="whole minute"):
        await venue.show(local("2027-06-01 20:00:30"))


async def test_a_sold_show_may_move_in_time_but_not_to_another_screen(
        venue: Venue, admin: CatalogAdminStore, db_pool: asyncpg.Pool) -> None:
    show = await venue.show(local(SHOW))
    await sell(db_pool, show.id, ["A3"])
    moved = ShowtimeInput(movie_id=venue.movie.id, screen_id=venue.screens[0].id,
                          starts_at=local("2027-06-01 20:15"))

    assert (await admin.update_showtime(show.id, moved)).starts_at == moved.starts_at
    with pytest.raises(InUse):
        await admin.update_showtime(show.id, moved.model_copy(
            update={"screen_id": venue.screens[1].id}))
    with pytest.raises(InUse):
        await admin.delete_showtime(show.id)
