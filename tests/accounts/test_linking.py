"""A guest's holds and bookings follow it into an account, on sign-up and on
log-in, through the wire: HTTP with cookies, the WebSocket, the provider's page."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import asyncpg
import pytest

from seatserver.accounts.sessions import SessionStore
from seatserver.loadgen.client import SeatClient
from tests.accounts.conftest import Visitor, VisitorFactory, new_email
from tests.bookings import conftest as bookings_conftest
from tests.support import eventually

Watch = Callable[[Visitor], Awaitable[SeatClient]]


# Seats sold by an earlier test would stay sold in the shared database: each
# test starts with no sales, as the bookings suite's do.
no_bookings = bookings_conftest.no_bookings


@pytest.fixture
async def showtimes(demo: list[int]) -> list[int]:
    # Tomorrow's show first: today's may be past its sales cut-off while tests run.
    return [demo[1], demo[0]]


@pytest.fixture
async def ws(base_url: str) -> AsyncIterator[Watch]:
    """A WebSocket client on a visitor's current session."""
    opened: list[SeatClient] = []
    async with aiohttp.ClientSession() as http:
        async def connect(person: Visitor) -> SeatClient:
            assert person.token is not None
            client = await SeatClient(http, base_url, person.token).connect()
            opened.append(client)
            return client
        yield connect
        for client in opened:
            await client.close()


async def mine(client: SeatClient, showtime: int) -> dict[str, int]:
    """The seats a fresh snapshot says are the client's, with their deadlines."""
    assert (await client.subscribe(showtime))["ok"] is True
    view = client.views[showtime]
    await eventually(lambda: view.snapshots > 0)
    return dict(view.mine)


async def pay(person: Visitor, booking: dict[str, Any]) -> dict[str, Any]:
    """Pay on the simulated provider's page and follow the browser back."""
    status, _ = await person.call("POST", booking["checkout_url"] + "/pay")
    assert status == 303
    back = person.headers["Location"]
    status, _ = await person.call("GET", back[back.index("/api/"):])
    assert status == 303
    status, paid = await person.call("GET", f"/api/bookings/{booking['reference']}")
    assert status == 200
    return paid  # type: ignore[no-any-return]


async def test_sign_up_keeps_the_guests_holds_and_bookings(
        visitor: VisitorFactory, ws: Watch, showtimes: list[int]) -> None:
    show = showtimes[0]
    alice = await visitor()
    guest_id = await alice.guest()
    guest_ws = await ws(alice)
    assert (await guest_ws.hold(show, ["E5", "E6", "E7"]))["ok"] is True
    status, pending = await alice.call("POST", f"/api/showtimes/{show}/bookings",
                                       {"seats": ["E5"], "email": "alice@example.com"},
                                       headers={"Idempotency-Key": "a1"})
    assert status == 201, pending
    before = await mine(guest_ws, show)

    body = await alice.register(new_email())

    assert body["user"]["id"] == guest_id  # the guest's row became the account
    account_ws = await ws(alice)
    assert await mine(account_ws, show) == before
    status, history = await alice.call("GET", "/api/bookings")
    assert [b["reference"] for b in history] == [pending["reference"]]
    status, booking = await alice.call("POST", f"/api/showtimes/{show}/bookings",
                                       {"seats": ["E6", "E7"]},
                                       headers={"Idempotency-Key": "a2"})
    assert status == 201, booking
    assert (await pay(alice, booking))["status"] == "booked"
    assert (await pay(alice, pending))["status"] == "booked"


async def test_log_in_moves_the_guests_holds_and_bookings_to_the_account(
        visitor: VisitorFactory, ws: Watch, showtimes: list[int],
        db_pool: asyncpg.Pool) -> None:
    email = new_email()
    owner = await visitor()
    account_id = (await owner.register(email))["user"]["id"]
    alice = await visitor()
    await alice.guest()
    guest_token = alice.token
    assert guest_token is not None
    guest_ws = await ws(alice)
    assert (await guest_ws.hold(showtimes[0], ["F1", "F2"]))["ok"] is True
    assert (await guest_ws.hold(showtimes[1], ["A3"]))["ok"] is True
    status, pending = await alice.call("POST", f"/api/showtimes/{showtimes[0]}/bookings",
                                       {"seats": ["F1"], "email": "alice@example.com"},
                                       headers={"Idempotency-Key": "b1"})
    assert status == 201, pending
    before = [await mine(guest_ws, show) for show in showtimes]

    body = await alice.log_in(email)

    assert body["user"]["id"] == account_id
    assert body["linked"] == {"bookings": [pending["reference"]], "seats": 3}
    assert await SessionStore(db_pool).resolve(guest_token) is None
    account_ws = await ws(alice)
    assert [await mine(account_ws, show) for show in showtimes] == before
    # The old socket is still open as the guest, whose seats these no longer are.
    assert (await guest_ws.release(showtimes[0], ["F2"]))["code"] == "not_holder"
    status, history = await alice.call("GET", "/api/bookings")
    assert [b["reference"] for b in history] == [pending["reference"]]
    assert (await pay(alice, pending))["status"] == "booked"
    status, booking = await alice.call("POST", f"/api/showtimes/{showtimes[0]}/bookings",
                                       {"seats": ["F2"]}, headers={"Idempotency-Key": "b2"})
    assert status == 201, booking
    # Logging in on one device logs no other device out.
    status, _ = await owner.call("GET", "/api/me")
    assert status == 200


async def test_log_in_from_no_session_links_nothing(visitor: VisitorFactory) -> None:
    email = new_email()
    await (await visitor()).register(email)

    body = await (await visitor()).log_in(email)

    assert body["linked"] == {"bookings": [], "seats": 0}
