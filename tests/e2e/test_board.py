"""The pages' SeatBoard (web/shared/seatmap/board.js) on frames in an unlucky order.

The module is fed such orders directly, in Chromium; and the picker is put
through the one that matters most over a real server: updates of a seat from
before our hold (its previous holder's hold and release, read late by the
server's feed) arriving after our hold's ack. The ack's offset says they are
old news (docs/protocol.md); the seat stays ours."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, expect

from tests.e2e.browsing import Browsing, Gate, someone_else
from tests.e2e.server import Server
from tests.support import eventually

SEATS = [{"id": s, "row": s[0], "number": int(s[1:]), "type": "gold", "x": int(s[1:]), "y": 0,
          "accessible": False, "price": {"amount": 1250, "currency": "EUR"}}
         for s in ("A1", "A2", "A3")]


async def run_board(page: Page, script: str) -> Any:
    """Evaluate `script` with `board`, a SeatBoard of seats A1-A3, and `update(seats, reasons)`."""
    # Pasted in, not eval'd inside the page: the page's CSP forbids eval, rightly.
    return await page.evaluate(
        """async (seats) => {
            const base = document.querySelector('script[type=module]').src
                .replace(/[^/]+\\/[^/]+$/, '');
            const { SeatBoard } = await import(base + 'shared/seatmap/board.js');
            const board = new SeatBoard(seats);
            let n = 0;
            const update = (seats, reasons) =>
                board.applyUpdate({ t: 'update', offset: `1-${n++}`, seats, reasons });
        """ + script + "}",
        SEATS,
    )


async def test_an_older_free_after_our_ack_does_not_take_our_seat(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    page = await browsing.page(f"{server.url}/showtimes/{showtimes[0]}")

    looks = await run_board(page, """
        board.beginHold('A1');
        board.holdAccepted('A1', Date.now() + 60000, '1-1');  // our hold is entry 1-1
        const looks = [board.look('A1')];
        update({A1: 'free'}, {A1: 'expire'});     // 1-0: the previous holder's expiry, late
        looks.push(board.look('A1'));
        update({A1: 'held'}, {A1: 'hold'});       // 1-1: our own hold
        looks.push(board.look('A1'));
        const { lost } = update({A1: 'free'}, {A1: 'expire'});  // 1-2: now ours ended
        looks.push(board.look('A1'), lost.map(l => l.id + ':' + l.reason).join());
        return looks;
    """)

    assert looks == ["mine", "mine", "mine", "available", "A1:expire"]


async def test_an_older_hold_and_release_after_our_ack_do_not_take_our_seat(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    page = await browsing.page(f"{server.url}/showtimes/{showtimes[0]}")

    # Our hold is entry 1-2; then come 1-0 and 1-1 (theirs, late) and 1-2 (ours).
    looks = await run_board(page, """
        board.beginHold('A1');
        board.holdAccepted('A1', Date.now() + 60000, '1-2');
        const steps = [[{A1: 'held'}, {A1: 'hold'}], [{A1: 'free'}, {A1: 'release'}],
                       [{A1: 'held'}, {A1: 'hold'}]];
        return [board.look('A1'), ...steps.map(([seats, reasons]) =>
            `${update(seats, reasons).lost.length}:${board.look('A1')}`)];
    """)

    assert looks == ["mine", "0:mine", "0:mine", "0:mine"]


async def test_a_hold_acked_before_older_updates_of_its_seat_arrive_stays_on_the_map(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    showtime = showtimes[0]
    late = Gate(updates_only=True)
    picker = await browsing.picker(server.url, showtime, gate=late)
    async with someone_else(server.url, showtime) as other:
        late.close()
        assert (await other.hold(showtime, ["E7"]))["ok"]
        await eventually(lambda: len(late.waiting) == 1)
        assert (await other.release(showtime, ["E7"]))["ok"]
        await eventually(lambda: len(late.waiting) == 2)
        await picker.expect_look("E7", "available")  # the page has heard of neither yet

        await picker.hold("E7")  # acked at once; the updates above are still on their way
        await eventually(lambda: len(late.waiting) == 3)
        delayed = [(f["seats"], f["reasons"]) for f in late.waiting_frames()]
        late.open()
        # Frames are applied in order: once someone else's later hold shows,
        # the page has applied every update before it.
        assert (await other.hold(showtime, ["E9"]))["ok"]
        await picker.expect_look("E9", "held")

    # Theirs (older than our ack), then ours: all three after the ack.
    assert delayed == [({"E7": "held"}, {"E7": "hold"}), ({"E7": "free"}, {"E7": "release"}),
                       ({"E7": "held"}, {"E7": "hold"})]
    await picker.expect_look("E7", "mine")
    await expect(picker.notice).to_be_hidden()
    await expect(picker.basket).to_contain_text("Row E, seat 7")


async def test_a_snapshot_replaces_what_we_hold_and_says_what_we_lost(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    page = await browsing.page(f"{server.url}/showtimes/{showtimes[0]}")

    result = await run_board(page, """
        board.holdAccepted('A1', 1);
        board.holdAccepted('A2', 2);
        const { lost } = board.applySnapshot(
            {t: 'snapshot', offset: '5-0', held: ['A1', 'A2'], booked: ['A3'], mine: {A2: 9}});
        return [lost, board.look('A1'), board.look('A2'), board.look('A3'),
                board.mine.get('A2').expiresAt];
    """)

    assert result == [["A1"], "held", "mine", "booked", 9]


async def test_pending_beats_everything_until_the_ack_and_a_refusal_rolls_back(
        browsing: Browsing, server: Server, showtimes: list[int]) -> None:
    page = await browsing.page(f"{server.url}/showtimes/{showtimes[0]}")

    looks = await run_board(page, """
        board.beginHold('A3');
        const looks = [board.look('A3')];
        update({A3: 'held'}, {A3: 'hold'});     // someone else's hold won the race
        looks.push(board.look('A3'));
        board.abandon('A3');                     // our refusal arrives
        looks.push(board.look('A3'), board.basket().length);
        return looks;
    """)

    assert looks == ["pending", "pending", "held", 0]
