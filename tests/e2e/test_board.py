"""The picker's SeatBoard (web/picker/board.js), run in Chromium on frames the
server could send in an unlucky order. These orders are hard to provoke
through a real server on demand, so the module is fed them directly."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page

from tests.e2e.browsing import Browsing
from tests.e2e.server import Server

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
            const { SeatBoard } = await import(base + 'picker/board.js');
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
        board.holdAccepted('A1', Date.now() + 60000);
        const looks = [board.look('A1')];
        update({A1: 'free'}, {A1: 'expire'});     // the previous holder's expiry, late
        looks.push(board.look('A1'));
        update({A1: 'held'}, {A1: 'hold'});       // the echo of our own hold
        looks.push(board.look('A1'));
        const { lost } = update({A1: 'free'}, {A1: 'expire'});  // now it is ours that ended
        looks.push(board.look('A1'), lost.map(l => l.id + ':' + l.reason).join());
        return looks;
    """)

    assert looks == ["mine", "mine", "mine", "available", "A1:expire"]


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
