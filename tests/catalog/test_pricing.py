"""Prices: rules by seat type and weekday/weekend in the theater's zone, overrides on top."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from seatserver.catalog.admin import CatalogAdminStore
from seatserver.catalog.inputs import PriceOverrideInput, PriceRuleInput
from seatserver.catalog.models import Price
from seatserver.catalog.pricing import PriceRule, day_kind, price_list
from seatserver.catalog.store import CatalogStore
from seatserver.errors import InvalidInput
from tests.catalog.conftest import BERLIN, WEEKDAY, WEEKEND, Venue, local, make_venue

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(("wall_clock", "zone", "kind"), [
    ("2027-03-26 23:30", BERLIN, "weekday"),   # Friday night
    ("2027-03-27 00:30", BERLIN, "weekend"),   # Saturday, just after midnight
    ("2027-03-28 23:30", BERLIN, "weekend"),   # Sunday night, after the clocks went forward
    ("2027-03-29 00:30", BERLIN, "weekday"),   # Monday
    ("2027-03-28 03:30", BERLIN, "weekend"),   # the hour after 02:00 became 03:00
    ("2027-10-31 02:30", BERLIN, "weekend"),   # the hour that happens twice
    ("2027-03-26 23:30", TOKYO, "weekday"),    # no DST at all
    ("2027-03-13 23:30", NEW_YORK, "weekend"),  # Saturday before the US switch
])
def test_weekend_is_judged_on_the_theater_s_wall_clock(wall_clock: str, zone: ZoneInfo,
                                                       kind: str) -> None:
    assert day_kind(local(wall_clock, zone), zone) == kind


def test_the_same_instant_is_a_weekday_in_one_zone_and_weekend_in_another() -> None:
    instant = datetime(2027, 3, 26, 22, 30, tzinfo=UTC)  # Fri 23:30 Berlin, Sat 07:30 Tokyo

    assert day_kind(instant, BERLIN) == "weekday"
    assert day_kind(instant, TOKYO) == "weekend"


def test_an_override_beats_the_rule_and_other_currencies_never_apply() -> None:
    rules = [PriceRule(1, 1, "gold", "weekday", 1000, "EUR"),
             PriceRule(2, 1, "vip", "weekday", 1500, "EUR"),
             PriceRule(3, 1, "silver", "weekday", 700, "USD"),
             PriceRule(4, 1, "gold", "weekend", 1200, "EUR")]

    prices = price_list(starts_at=local("2027-03-24 20:00"), zone=BERLIN, currency="EUR",
                        rules=rules, overrides={"vip": 1300},
                        type_order=["silver", "gold", "vip"])

    assert prices == {"gold": Price(1000, "EUR"), "vip": Price(1300, "EUR")}
    assert list(prices) == ["gold", "vip"]


def expected(amounts: dict[str, int]) -> dict[str, Price]:
    return {t: Price(a, "EUR") for t, a in amounts.items()}


@pytest.mark.parametrize(("wall_clock", "amounts"), [
    ("2027-03-26 23:30", WEEKDAY),
    ("2027-03-27 00:30", WEEKEND),
    ("2027-03-28 23:30", WEEKEND),
    ("2027-03-29 00:30", WEEKDAY),
])
async def test_a_showtime_is_priced_by_the_day_it_plays_on_locally(
        venue: Venue, wall_clock: str, amounts: dict[str, int]) -> None:
    show = await venue.show(local(wall_clock))

    assert show.prices == expected(amounts)
    assert await venue.catalog.prices(show.id) == expected(amounts)


async def test_a_theater_far_east_prices_by_its_own_calendar(
        admin: CatalogAdminStore, catalog: CatalogStore) -> None:
    tokyo = await make_venue(admin, catalog, time_zone="Asia/Tokyo", city="Tokyo")
    # Friday 23:30 in Berlin is Saturday 07:30 in Tokyo: a weekend show there.
    show = await tokyo.show(local("2027-03-26 23:30"))

    assert show.starts_at.isoformat() == "2027-03-27T07:30:00+09:00"
    assert show.prices == expected(WEEKEND)


async def test_an_override_prices_one_showtime_apart_until_removed(
        venue: Venue, admin: CatalogAdminStore) -> None:
    show = await venue.show(local("2027-03-24 20:00"))

    changed = await admin.set_price_override(show.id, PriceOverrideInput(seat_type="vip",
                                                                          amount=2500))
    assert changed.prices["vip"] == Price(2500, "EUR")
    assert changed.prices["gold"] == Price(WEEKDAY["gold"], "EUR")
    seat_map = await venue.catalog.get_showtime(show.id)
    assert seat_map is not None
    assert {s.id: s.price for s in seat_map.seats if s.type == "vip"} == {
        "B1": Price(2500, "EUR"), "B2": Price(2500, "EUR")}

    assert (await admin.delete_price_override(show.id, "vip")).prices["vip"] == Price(
        WEEKDAY["vip"], "EUR")


async def test_a_seat_type_without_rule_or_override_is_not_on_sale(
        venue: Venue, db_pool: object, admin: CatalogAdminStore) -> None:
    for rule in await admin.price_rules(venue.theater.id):
        if rule.seat_type == "vip" and rule.day_kind == "weekday":
            await admin.delete_price_rule(rule.id)
    show = await venue.show(local("2027-03-24 20:00"))

    seat_map = await venue.catalog.get_showtime(show.id)

    assert seat_map is not None
    assert "vip" not in seat_map.prices
    assert {s.id for s in seat_map.seats if s.price is None} == {"B1", "B2"}


async def test_a_rule_change_reprices_coming_showtimes_at_once(
        venue: Venue, admin: CatalogAdminStore) -> None:
    show = await venue.show(local("2027-03-24 20:00"))

    await admin.set_price_rule(PriceRuleInput(theater_id=venue.theater.id, seat_type="gold",
                                              day_kind="weekday", amount=1111, currency="EUR"))

    assert (await venue.catalog.prices(show.id) or {})["gold"] == Price(1111, "EUR")


async def test_a_theater_prices_in_one_currency(venue: Venue, admin: CatalogAdminStore) -> None:
    with pytest.raises(InvalidInput, match="prices are in EUR"):
        await admin.set_price_rule(PriceRuleInput(
            theater_id=venue.theater.id, seat_type="gold", day_kind="weekend", amount=1,
            currency="USD"))
    with pytest.raises(InvalidInput, match="prices are in EUR"):
        await venue.show(local("2027-03-24 20:00"), currency="USD")

    assert (await venue.show(local("2027-03-24 20:00"))).currency == "EUR"
