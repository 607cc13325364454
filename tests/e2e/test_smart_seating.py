"""Smart seating in the picker, in Chromium against a real server, found by
accessible names: best available, the orphan rule's refusal with its offered
alternative, checkout's orphan re-check, and the list picker by keyboard."""

from __future__ import annotations

import re

import asyncpg
from playwright.async_api import Page, expect

from tests.e2e.browsing import Browsing, Picker, Shop, someone_else
from tests.e2e.server import ServerFactory
from tests.e2e.test_accessibility import serious_findings


async def orphan_rule_on(database_url: str, showtime: int) -> None:
    """The demo's showtimes have the orphan rule off (load tests click at random)."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE showtimes SET no_orphans = true WHERE id = $1", showtime)
    finally:
        await conn.close()


async def basket_ids(page: Page) -> list[str]:
    return [str(await item.get_attribute("data-id"))
            for item in await page.locator("#basket-list li").all()]


async def test_best_available_holds_a_party_side_by_side_shown_as_mine(
        browsing: Browsing, start_server: ServerFactory, showtimes: list[int]) -> None:
    server = start_server()
    picker = await browsing.picker(server.url, showtimes[0])
    page = picker.page
    best = page.get_by_role("region", name="Best available")
    await best.get_by_label("Party size").fill("3")
    await best.get_by_label("Seat type").select_option("gold")

    await best.get_by_role("button", name="Find seats").click()

    result = page.locator("#best-result")
    await expect(result).to_have_text(re.compile(
        r"^Held for you, side by side: Row ([E-J]), seats (\d+) to (\d+)\.$"))
    row, first, last = re.search(r"Row (\w), seats (\d+) to (\d+)",  # type: ignore[union-attr]
                                 await result.inner_text()).groups()
    assert int(last) - int(first) == 2
    await expect(page.locator("#basket-list li")).to_have_count(3)
    assert await basket_ids(page) == [f"{row}{n}" for n in range(int(first), int(last) + 1)]
    for n in range(int(first), int(last) + 1):
        await expect(page.get_by_role("button", name=re.compile(
            rf"^Row {row}, seat {n}, Gold, .*held for you$"))).to_be_visible()
    await expect(page.locator("#announcer")).to_contain_text("side by side")

    # They are the buyer's like clicked seats: a click lets one go.
    await picker.seat(f"{row}{first}").click()
    await picker.expect_look(f"{row}{first}", "available")
    await expect(page.locator("#basket-list li")).to_have_count(2)


async def test_best_available_explains_bad_input_and_refusals(
        browsing: Browsing, start_server: ServerFactory, showtimes: list[int]) -> None:
    server = start_server()
    picker = await browsing.picker(server.url, showtimes[0])
    page = picker.page
    best = page.get_by_role("region", name="Best available")
    count = best.get_by_label("Party size")
    find = best.get_by_role("button", name="Find seats")

    await count.fill("")
    await count.press_sequentially("-4")
    await find.click()
    await expect(best.get_by_role("alert")).to_contain_text(
        "Party size: enter a whole number of seats from 1 to 100")
    await expect(count).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#basket-list li")).to_have_count(0)

    await count.fill("11")  # past the 10 seats one person may hold
    await find.click()
    await expect(page.locator("#best-result")).to_contain_text("at most 10 seats")

    await count.fill("3")
    await best.get_by_label("Wheelchair spaces").select_option(label="4 wheelchair spaces")
    await find.click()
    await expect(best.get_by_role("alert")).to_have_text(
        "Wheelchair spaces: at most the party size (3).")


async def test_an_orphan_refusal_names_the_lone_seat_and_its_offer_holds(shop: Shop) -> None:
    await orphan_rule_on(shop.database_url, shop.showtime)
    server = shop.server()
    picker = await shop.browsing.picker(server.url, shop.showtime)
    page = picker.page
    before = await picker.seat("C2").bounding_box()

    await picker.seat("C2").click()  # would leave C1 alone against the row's end

    advice = page.get_by_role("group", name=re.compile("^Row C, seat 2 cannot be held"))
    await expect(advice).to_contain_text("would leave Row C, seat 1 alone")
    assert await picker.seat("C2").bounding_box() == before  # the map did not move
    assert await picker.look("C2") == "available"
    offer = advice.get_by_role("button", name="Hold Row C, seats 1 and 2 instead")
    await expect(offer).to_be_visible()

    await offer.click()

    await picker.expect_look("C1", "mine")
    await picker.expect_look("C2", "mine")
    await expect(advice).to_be_hidden()


async def checkout_leaving_c1_alone(shop: Shop, seats: list[str]) -> Picker:
    """A picker that holds ``seats`` of row C beside someone else's C1, who
    then lets C1 go, so that the basket leaves it alone; checkout clicked."""
    await orphan_rule_on(shop.database_url, shop.showtime)
    server = shop.server()
    picker = await shop.browsing.picker(server.url, shop.showtime)
    async with someone_else(server.url, shop.showtime) as other:
        assert (await other.hold(shop.showtime, ["C1"]))["ok"]
        await picker.expect_look("C1", "held")
        for seat in seats:
            await picker.hold(seat)
        assert (await other.release(shop.showtime, ["C1"]))["ok"]  # C1 now alone
        await picker.expect_look("C1", "available")
    await picker.give_email()
    await picker.checkout.click()
    return picker


async def test_checkout_orphan_recheck_names_the_seat_and_keep_checks_out(shop: Shop) -> None:
    picker = await checkout_leaving_c1_alone(shop, ["C2", "C3"])

    await expect(picker.checkout_error).to_contain_text("Row C, seat 1 would be left alone")
    basket = picker.page.get_by_role("complementary", name="Your seats")
    await expect(basket.get_by_role("button", name="Add Row C, seat 1 to my seats")).to_be_visible()
    await basket.get_by_role("button", name="Keep my seats and check out").click()
    await picker.page.wait_for_url(re.compile(r"/pay/sim_\w+$"))


async def test_checkout_orphan_recheck_can_add_the_lone_seat(shop: Shop) -> None:
    picker = await checkout_leaving_c1_alone(shop, ["C2"])
    basket = picker.page.get_by_role("complementary", name="Your seats")

    await basket.get_by_role("button", name="Add Row C, seat 1 to my seats").click()

    await picker.expect_look("C1", "mine")
    await expect(picker.checkout_error).to_be_hidden()
    await expect(picker.checkout).to_have_text(re.compile("^Checkout: 2 seats"))


async def test_the_list_picker_works_by_keyboard_alone_and_follows_live_updates(
        browsing: Browsing, start_server: ServerFactory, showtimes: list[int]) -> None:
    server = start_server()
    async with someone_else(server.url, showtimes[0]) as other:
        assert (await other.hold(showtimes[0], ["E2"]))["ok"]
        picker = await browsing.picker(server.url, showtimes[0])
        page = picker.page
        await picker.expect_look("E2", "held")
        await page.get_by_role("button", name="Find seats").focus()
        await page.keyboard.press("Tab")
        summary = page.get_by_text("Choose from a list", exact=True)
        await expect(summary).to_be_focused()
        await page.keyboard.press("Enter")
        await page.keyboard.press("Tab")
        await expect(page.get_by_label("Seat type", exact=True).last).to_be_focused()
        for _ in range(3):  # the types, cheapest first: silver, gold, VIP
            if await page.evaluate("document.activeElement.value") == "gold":
                break
            await page.keyboard.press("ArrowDown")
        await expect(page.locator("#list-type")).to_have_value("gold")
        await page.keyboard.press("Tab")
        row = page.locator("#list-row")
        await expect(row).to_be_focused()
        await expect(row).to_have_value("E")
        await page.keyboard.press("Tab")
        seats = page.get_by_role("list", name=re.compile("^Row E: "))
        first = seats.get_by_role("button").first
        await expect(first).to_be_focused()
        await expect(first).to_have_accessible_name(re.compile(
            r"^Row E, seat 1, Gold, €\d+\.\d\d, available$"))
        # Available seats only: E2 is someone else's.
        await expect(seats.get_by_role("button", name=re.compile("^Row E, seat 2,"))
                     ).to_have_count(0)

        await page.keyboard.press("Enter")

        await picker.expect_look("E1", "mine")
        held = seats.get_by_role("button", name=re.compile(r"^Row E, seat 1, .*held for you$"))
        await expect(held).to_be_focused()
        await expect(held).to_have_attribute("aria-pressed", "true")

        # Someone else's hold shows up here too, as on the map.
        assert (await other.hold(showtimes[0], ["E5"]))["ok"]
        await expect(seats.get_by_role("button", name=re.compile("^Row E, seat 5,"))
                     ).to_have_count(0)
        assert (await other.release(showtimes[0], ["E2"]))["ok"]
        await expect(seats.get_by_role("button", name=re.compile("^Row E, seat 2,"))
                     ).to_have_count(1)
        assert await serious_findings(page) == []

        await page.keyboard.press("Space")  # lets E1 go
        await picker.expect_look("E1", "available")


async def test_party_buttons_in_the_list_hold_best_available_of_the_type(
        browsing: Browsing, start_server: ServerFactory, showtimes: list[int]) -> None:
    server = start_server()
    picker: Picker = await browsing.picker(server.url, showtimes[0])
    page = picker.page
    await page.get_by_text("Choose from a list", exact=True).click()
    await page.locator("#list-type").select_option("vip")
    await page.get_by_role("group", name=re.compile("^Or let us choose VIP")).get_by_role(
        "button", name="4 seats").click()
    await expect(page.locator("#list-result")).to_have_text(re.compile(
        r"^Held for you, side by side: Row [KL], seats \d+ to \d+\.$"))
    ids = await basket_ids(page)
    assert len(ids) == 4 and all(i[0] in "KL" for i in ids), ids
