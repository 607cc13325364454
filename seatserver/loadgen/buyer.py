"""Simulated people: buyers who pick seats and kiosks that watch a showtime.

A buyer comes back visit after visit until the run stops. A visit: pick a
showtime, look at its map, click seats (one by one, or a group at once, with
think time between clicks; a refused seat is replaced by another free one),
maybe change their mind about one seat, then check out and pay or decline,
release the basket, or just close the tab. A buyer who closes the tab (or
walks away from the payment page) comes back later as a new guest.

Buyers only click seats their own view shows free: that is what a person
can click, and it keeps the view's idea of its own holds exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from seatserver.loadgen.client import Reply, SeatClient, SeatView, guest_session
from seatserver.loadgen.ledger import CheckoutRecord, Grant, Ledger, Unanswered
from seatserver.loadgen.options import LoadOptions
from seatserver.loadgen.payment import CheckoutFailed, Payer
from seatserver.loadgen.queueing import Admissions
from seatserver.loadgen.seatmap import SeatPicker
from seatserver.loadgen.stats import ADDRESS_CAP_COUNTER, Recorder

PARTY_SIZES = (1, 2, 3, 4)
PARTY_WEIGHTS = (20, 45, 15, 20)
GROUP_AT_ONCE = 0.3  # of buyers hold their party in one message
CHANGE_MIND = 0.15  # of baskets lose one seat for another
WALK_AWAY = 0.05  # of checkouts are left on the payment page (pending, then expired)
REFUSALS_PER_BASKET = 6
BACKOFF_CODES = {"rate_limited", "unavailable", "internal_error"}
# Between tries to get (back) in after a failure: doubling, capped, jittered.
RETRY_BASE_S, RETRY_CAP_S = 0.25, 8.0
# At the end of a run, for replies to holds and releases still on their way.
REPLY_WAIT_S = 5.0
# In a waiting room: the share of buyers who click a seat while they wait
# (refused ``not_admitted``, which the audit checks), and how long the ones
# who give up (--abandon-share) wait first.
PROBE_SHARE = 0.2
PATIENCE_S = (1.0, 10.0)
WAIT_POLL_S = 0.25


class Stopped(Exception):
    """The run is stopping (or its hold budget is spent): the buyer ends here."""


class VisitFailed(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Budget:
    """Hold requests this worker may still send (None: no count bound)."""

    def __init__(self, limit: int | None) -> None:
        self.left = limit

    def take(self) -> bool:
        if self.left is None:
            return True
        if self.left <= 0:
            return False
        self.left -= 1
        return True

    @property
    def exhausted(self) -> bool:
        return self.left is not None and self.left <= 0


class Backoff:
    """Waits between tries that keep failing: doubling up to a cap, with full
    jitter, so that clients cut off together (an instance killed, a store
    restarting) do not all come back at the same moment."""

    def __init__(self, rng: random.Random, base_s: float = RETRY_BASE_S,
                 cap_s: float = RETRY_CAP_S) -> None:
        self._rng = rng
        self._base = base_s
        self._cap = cap_s
        self.failures = 0

    def next(self) -> float:
        delay = self._rng.uniform(0, min(self._cap, self._base * 2 ** self.failures))
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0


@dataclass
class Shared:
    """What every simulated person of one worker uses."""

    options: LoadOptions
    http: aiohttp.ClientSession
    pickers: list[SeatPicker]
    recorder: Recorder
    ledger: Ledger
    stopping: asyncio.Event
    budget: Budget
    violations: list[str]
    error_frames: list[str]


def now_ms() -> float:
    return time.time() * 1000


def _failure(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        return f"upgrade_{exc.status}"
    if isinstance(exc, aiohttp.ClientResponseError):
        # 429 on a new session: the server's guest sessions per address limit.
        return "rate_limited" if exc.status == 429 else f"http_{exc.status}"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientConnectionError | ConnectionError | OSError):
        return "connection_lost"
    return type(exc).__name__


class Person:
    """A guest with a WebSocket connection: the common part of buyers and kiosks."""

    gauge = 1  # counted in "connected clients" (kiosks are not clients)

    def __init__(self, shared: Shared, name: str, rng: random.Random) -> None:
        self.s = shared
        self.name = name
        self.rng = rng
        self.client: SeatClient | None = None
        self.token = ""
        self.user = 0
        self.connected = False
        self.ever_connected = False
        self.busy = False
        self.showtime: int | None = None
        self.subscribed_at = 0.0  # time.monotonic() of the last subscribe acked
        self.backoff = Backoff(rng)

    async def run(self) -> None:
        raise NotImplementedError

    async def _retry_later(self) -> None:
        """After a failure: wait the back-off's next delay (or stop)."""
        delay = self.backoff.next()
        if self.s.stopping.is_set():
            raise Stopped
        try:
            await asyncio.wait_for(self.s.stopping.wait(), delay)
        except TimeoutError:
            return
        raise Stopped

    async def _think(self, mean: float) -> None:
        if self.s.stopping.is_set():
            raise Stopped
        if mean > 0:
            await asyncio.sleep(min(5 * mean, self.rng.expovariate(1 / mean)))
        if self.s.stopping.is_set():
            raise Stopped

    def _gone(self) -> None:
        """The connection is closed: stop counting it, keep what it saw."""
        if self.connected:
            self.connected = False
            self.s.recorder.connected -= self.gauge
        if self.client is not None:
            if self.client.ended_by:
                # The socket failed rather than closed: say how, by kind.
                kind = self.client.ended_by.split()[0].lower()
                self.s.recorder.count(f"connection.failed.{kind}")
                self.client.ended_by = ""
            self.s.violations.extend(f"{self.name}: {v}" for v in self.client.violations)
            self.s.error_frames.extend(f"{self.name}: {e}" for e in self.client.errors)
            self.client.violations.clear()
            self.client.errors.clear()

    async def _open(self, showtime: int, view: str) -> None:
        """Connected and subscribed to ``showtime``: a new guest, a reconnect
        (resuming with ``since`` when no reply was lost), or a change of room."""
        started = time.perf_counter()
        client = self.client
        if client is not None and client.closed:
            self._gone()
            await self._reconnect(client, view)
        elif client is None:
            await self._new_guest()
        assert self.client is not None
        if self.showtime != showtime:
            # Forget the old room before asking to leave it: a task cancelled
            # while it waits must not leave a view that no longer gets updates
            # looking current (the final view check would call it stuck).
            old, self.showtime = self.showtime, None
            if old is not None:
                self.client.views.pop(old, None)
                await self.client.request("unsubscribe", showtime=old)
            await self._subscribe(showtime, view, None)
            self.showtime = showtime
            self.s.recorder.latency("connect", (time.perf_counter() - started) * 1000)
        self.backoff.reset()

    async def _new_guest(self) -> None:
        """A new guest session, connected, in no room yet."""
        self.token, self.user = await guest_session(self.s.http, self.s.options.url)
        self._guest()
        self.client = self._new_client()
        await self.client.connect()
        self._up()
        self.showtime = None

    def _guest(self) -> None:
        """A new guest session has begun (``self.user`` is its holder id)."""

    def _new_client(self) -> SeatClient:
        client = SeatClient(self.s.http, self.s.options.url, self.token,
                            protocol=self.s.options.protocol, delay_sink=self.s.recorder.fanout)
        client.notice_sink = self._notice
        return client

    def _notice(self, frame: dict[str, Any]) -> None:
        """A waiting room's ``queue`` or ``admitted`` frame."""

    def _joining(self, showtime: int, view: str) -> None:
        """About to subscribe (which, for the seats, also joins a waiting room)."""

    def _joined(self, showtime: int, view: str, state: str | None) -> None:
        """Subscribed; ``state`` is the answer's ``queue`` (None: no waiting room)."""

    def _up(self) -> None:
        self.connected = self.ever_connected = True
        self.s.recorder.connected += self.gauge
        self.s.recorder.count("connect.ok")

    async def _reconnect(self, client: SeatClient, view: str) -> None:
        lost = client.lost_replies
        await client.connect()
        self._up()
        client.lost_replies = 0
        showtime, self.showtime = self.showtime, None  # not current until subscribed
        if showtime is None:
            # Cut before its first subscribe was answered: there is no room
            # to get back into; the caller subscribes as on a first visit.
            return
        # Every reconnect into a room ends one way: resumed, with a snapshot,
        # or interrupted (cut again, refused or stopped before the answer).
        self.s.recorder.count("reconnect")
        seen = client.views.get(showtime)
        resume = view == "seats" and seen is not None and seen.snapshots > 0 and not lost
        try:
            await self._subscribe(showtime, view, seen.offset if resume and seen else None,
                                  seen.epoch if resume and seen else None)
        except BaseException:
            self.s.recorder.count("reconnect.interrupted")
            raise
        self.s.recorder.count("reconnect.resumed" if resume else "reconnect.snapshot")
        self.showtime = showtime
        self._rejoined(showtime)

    def _rejoined(self, showtime: int) -> None:
        """Back in ``showtime``'s room after a reconnect, its view up to date."""

    async def _subscribe(self, showtime: int, view: str, since: str | None,
                         epoch: str | None = None) -> None:
        assert self.client is not None
        self._joining(showtime, view)
        ack = await self.client.subscribe(showtime, since=since, view=view, epoch=epoch)
        self.subscribed_at = time.monotonic()
        if not ack.get("ok"):
            code = str(ack.get("code", "bad_reply"))
            self.s.recorder.count(f"subscribe.failed.{code}")
            raise VisitFailed(code)
        self._joined(showtime, view, ack.get("queue"))

    async def close(self) -> None:
        if self.client is not None:
            self._gone()
            await self.client.close()
            self.client = None
            self.showtime = None


class Buyer(Person):
    def __init__(self, shared: Shared, name: str, rng: random.Random) -> None:
        super().__init__(shared, name, rng)
        # Seats this client holds per its acks: (showtime, seat) -> the grant.
        self.live: dict[tuple[int, str], Grant] = {}
        self.rooms = Admissions(name, shared.ledger, shared.recorder)

    def _guest(self) -> None:
        self.rooms.new_session(self.user)

    def _notice(self, frame: dict[str, Any]) -> None:
        self.rooms.notice(frame)

    def _joining(self, showtime: int, view: str) -> None:
        if view == "seats":
            self.rooms.joining(showtime)

    def _joined(self, showtime: int, view: str, state: str | None) -> None:
        if view == "seats":
            self.rooms.joined(showtime, state)

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self._visit()
                except VisitFailed:
                    await self._retry_later()
                except (aiohttp.ClientError, ConnectionError, TimeoutError, OSError) as exc:
                    self.s.recorder.count(f"visit.failed.{_failure(exc)}")
                    await self._retry_later()
        except Stopped:
            return

    async def settle(self) -> None:
        """At the end of the run: the final view must say which seats are ours,
        even if the last hold's or release's outcome was unknown. A reply still
        on its way (its step was cut short by the stop) is waited for a while
        first: it says what the snapshot would."""
        if self.client is None or self.showtime is None:
            return
        with contextlib.suppress(aiohttp.ClientError, ConnectionError, TimeoutError, OSError):
            await self.client.settle(self.showtime, wait_s=REPLY_WAIT_S)

    async def _visit(self) -> None:
        think = self.s.options.think_s
        picker = self.rng.choice(self.s.pickers)
        showtime = picker.plan.id
        if self.s.options.scenario == "onsale" and self.client is None:
            # The rush: a new guest comes to the waiting page (no seat map)
            # and sees the seats once admitted.
            await self._new_guest()
            if not await self._wait_admission(showtime, picker):
                return
        await self._open(showtime, "seats")
        self.s.recorder.count("visit")
        if self.rooms.waiting(showtime) and not await self._wait_admission(showtime, picker):
            return
        assert self.client is not None
        view = self.client.views[showtime]
        await self._think(think)
        party = self.rng.choices(PARTY_SIZES, PARTY_WEIGHTS)[0]
        basket = await self._fill(showtime, picker, view, party)
        if basket and self.rng.random() < CHANGE_MIND:
            basket = await self._change_mind(showtime, picker, view, basket)
        await self._think(think)
        await self.client.settle(showtime)
        self._sync_lost(showtime, view)
        basket = [s for s in basket if s in view.mine]
        if not basket:
            return await self._think(2 * think)
        choice = self.rng.random()
        share = self.s.options.checkout_share
        if choice < share:
            await self._checkout(showtime, basket)
        elif choice < share + (1 - share) / 2:
            await self._release(showtime, basket)
        else:
            await self.leave()
        await self._think(2 * think)

    async def _fill(self, showtime: int, picker: SeatPicker, view: SeatView,
                    party: int) -> list[str]:
        basket: list[str] = []
        if self.rng.random() < self.s.options.best_share:
            ack = await self._hold(showtime, [], best=party)
            if ack.get("ok"):
                return list(ack["seats"])
            if ack.get("code") == "seats_unavailable":
                self.s.recorder.count("sold_out_seen")
                return basket
            # Refused otherwise (a limit, a hiccup): click seat by seat instead.
        at_once = self.rng.random() < GROUP_AT_ONCE
        refusals = 0
        while len(basket) < party and refusals < REFUSALS_PER_BASKET:
            want = party - len(basket) if at_once else 1
            seats = picker.pick(self.rng, view, want, near=basket)
            if not seats:
                self.s.recorder.count("sold_out_seen")
                break
            ack = await self._hold(showtime, seats)
            if ack.get("ok"):
                basket += seats
            else:
                refusals += 1
                code = ack.get("code")
                if code == "too_many_seats":
                    break
                if code == "not_admitted" and not await self._wait_admission(showtime, picker):
                    break
                if code in BACKOFF_CODES:
                    await self._think(1.0)
            await self._think(self.s.options.think_s / 3)
        return basket

    async def _wait_admission(self, showtime: int, picker: SeatPicker) -> bool:
        """In the showtime's waiting room until admitted (True), or until this
        buyer gives up and closes the tab (False). Joins with ``queue`` unless
        already waiting; some buyers click a seat meanwhile (refused
        ``not_admitted``: the audit's business)."""
        assert self.client is not None
        if showtime not in self.rooms.open:
            self.rooms.joining(showtime)
            ack = await self.client.request("queue", showtime=showtime)
            if not ack.get("ok"):
                code = str(ack.get("code", "bad_reply"))
                self.s.recorder.count(f"queue.failed.{code}")
                raise VisitFailed(code)
            self.rooms.joined(showtime, ack.get("queue"))
        started = time.monotonic()
        patience = (self.rng.uniform(*PATIENCE_S)
                    if self.rng.random() < self.s.options.abandon_share else math.inf)
        probe = self.rng.uniform(0.2, 2.0) if self.rng.random() < PROBE_SHARE else math.inf
        while not await self.rooms.admitted(showtime, WAIT_POLL_S):
            if self.s.stopping.is_set():
                raise Stopped
            if self.client.closed:
                raise ConnectionError("connection lost in the waiting room")
            waited = time.monotonic() - started
            if waited >= probe:
                probe = math.inf
                self.s.recorder.count("queue.probe")
                await self._hold(showtime, [self.rng.choice(picker.plan.seats).id])
            if waited >= patience:
                self.rooms.give_up(showtime)
                await self.leave()
                return False
        return True

    async def _change_mind(self, showtime: int, picker: SeatPicker, view: SeatView,
                           basket: list[str]) -> list[str]:
        dropped = basket[-1]
        await self._release(showtime, [dropped])
        await self._think(self.s.options.think_s / 3)
        others = picker.pick(self.rng, view, 1, near=basket[:-1])
        if others and (await self._hold(showtime, others)).get("ok"):
            return [*basket[:-1], *others]
        return basket[:-1]

    async def _hold(self, showtime: int, seats: list[str], *, best: int = 0) -> Reply:
        """Hold ``seats``, or with ``best`` that many seats the server picks (a
        request whose ack is lost then names no seats: the audit matches it to
        a hold of whatever seats)."""
        if not self.s.budget.take():
            raise Stopped
        assert self.client is not None
        rec, ledger = self.s.recorder, self.s.ledger
        sent, started = now_ms(), time.perf_counter()
        key = ledger.sent(Unanswered(self.name, self.user, showtime, tuple(seats), sent))
        gated, admitted = showtime in self.rooms.gated, showtime in self.rooms.ends

        def on_reply(ack: Reply) -> None:
            ledger.answered(key)
            rec.latency("hold", (time.perf_counter() - started) * 1000)
            if gated and not admitted and ack.get("code") != "not_admitted":
                # Past the gate before we heard of the admission: the hold
                # script renewed it, so its news will not date it.
                self.rooms.renewed_early(showtime)
            if best:  # counted beside the holds they also are
                rec.count(f"best.{'together' if ack.get('together') else 'split'}"
                          if ack.get("ok") else f"best.refused.{ack.get('code')}")
            if ack.get("t") == "error":
                rec.count(f"hold.failed.{ack.get('code')}")
            elif ack.get("ok"):
                rec.count("hold.ok")
                got = tuple(ack["seats"]) if best else tuple(seats)
                grant = Grant(self.name, self.user, showtime, got, sent, now_ms(),
                              int(ack["expires_at"]), gated=gated, admitted=admitted)
                ledger.grants.append(grant)
                for seat in got:
                    self.live[(showtime, seat)] = grant
            else:
                rec.count(f"hold.refused.{ack.get('code')}")
                if ack.get("code") == "too_many_seats" and "address" in str(ack.get("message")):
                    rec.count(ADDRESS_CAP_COUNTER)
                if ack.get("code") == "not_admitted":
                    self.rooms.refused(showtime, sent)

        self.busy = True
        try:
            if best:
                return await self.client.best(showtime, best, on_reply=on_reply)
            return await self.client.hold(showtime, seats, on_reply=on_reply)
        finally:
            self.busy = False

    def _end(self, showtime: int, seats: list[str], at: float) -> None:
        for seat in seats:
            grant = self.live.pop((showtime, seat), None)
            if grant is not None:
                grant.ends.setdefault(seat, at)

    def _rejoined(self, showtime: int) -> None:
        # The snapshot or the replay says which of our holds are still ours.
        assert self.client is not None
        self._sync_lost(showtime, self.client.views[showtime])

    def _sync_lost(self, showtime: int, view: SeatView) -> None:
        """Holds the view shows gone (expired, booked by a late payment):
        their interval ends now at the latest."""
        gone = [seat for (st, seat) in self.live if st == showtime and seat not in view.mine]
        self._end(showtime, gone, now_ms())

    async def _release(self, showtime: int, seats: list[str]) -> None:
        assert self.client is not None
        self._end(showtime, seats, now_ms())
        rec = self.s.recorder

        def on_reply(ack: Reply) -> None:
            rec.count("release.ok" if ack.get("ok") else f"release.refused.{ack.get('code')}")

        self.busy = True
        try:
            await self.client.release(showtime, seats, on_reply=on_reply)
        finally:
            self.busy = False

    async def _checkout(self, showtime: int, basket: list[str]) -> None:
        record = CheckoutRecord(self.name, self.user, showtime, tuple(basket), now_ms())
        self.s.ledger.checkouts.append(record)
        self._end(showtime, basket, record.sent_ms)
        rec = self.s.recorder
        rec.count("checkout.started")
        payer = Payer(self.s.http, self.s.options.url, self.token,
                      on_retry=lambda code: rec.count(f"checkout.retried.{code}"))
        started = time.perf_counter()
        self.busy = True
        try:
            booking = await payer.book(record)
            if self.rng.random() < WALK_AWAY:
                record.outcome = "walked_away"
                rec.count("checkout.walked_away")
                await self.leave()
                return
            decline = self.rng.random() < self.s.options.decline_share
            status = await payer.pay(record, str(booking["checkout_url"]),
                                     "decline" if decline else "pay")
            rec.latency("checkout", (time.perf_counter() - started) * 1000)
            self._settled(record, status, decline)
        except CheckoutFailed as exc:
            record.outcome, record.code = "refused", exc.code
            rec.count(f"checkout.failed.{exc.code}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            record.outcome, record.code = "failed", _failure(exc)
            rec.count(f"checkout.failed.{record.code}")
        finally:
            self.busy = False
        await self._back_to_the_map(showtime, record)

    async def _back_to_the_map(self, showtime: int, record: CheckoutRecord) -> None:
        """The browser comes back from the payment page: the map loads anew,
        on a new connection, from a snapshot. That is also the only way to
        learn which holds are still ours: the server changed them (a payment
        window, seats freed after a decline or a refusal) and an update does
        not say whose a hold is."""
        await self.reopen(showtime)
        assert self.client is not None
        view = self.client.views[showtime]
        still = [s for s in record.seats if s in view.mine]
        if still and record.outcome in ("refused", "failed"):
            # Give up on the basket, as a person would: free what is still ours.
            await self._release(showtime, still)

    async def reopen(self, showtime: int) -> None:
        """A new connection of the same guest (a page load)."""
        await self.close()
        self.client = self._new_client()
        await self.client.connect()
        self._up()
        await self._subscribe(showtime, "seats", None)
        self.showtime = showtime

    def _settled(self, record: CheckoutRecord, status: str, declined: bool) -> None:
        rec = self.s.recorder
        if status == "booked" and not declined:
            record.outcome = "booked"
            rec.count("checkout.booked")
        elif status == "expired" and declined:
            record.outcome = "declined"
            rec.count("checkout.declined")
        else:
            record.outcome, record.code = "failed", f"ended_{status}"
            rec.count(f"checkout.failed.ended_{status}")

    async def leave(self) -> None:
        """Close the tab: holds stay until they expire; the next visit is a new guest."""
        at = now_ms()
        for (showtime, seat) in list(self.live):
            self._end(showtime, [seat], at)
        self.s.recorder.count("visit.left")
        await self.close()

    def finish(self, at: float) -> None:
        """The run stopped: whatever is still held was certainly held until now."""
        self.rooms.end_waits("still_waiting")
        for (showtime, seat) in list(self.live):
            self._end(showtime, [seat], at)


class Kiosk(Person):
    """A lobby board: one showtime's summary, kept connected until the run stops."""

    gauge = 0

    def __init__(self, shared: Shared, name: str, rng: random.Random, showtime: int) -> None:
        super().__init__(shared, name, rng)
        self.target = showtime

    async def run(self) -> None:
        try:
            while not self.s.stopping.is_set():
                try:
                    await self._open(self.target, "summary")
                    assert self.client is not None
                    await self._watch(self.client)
                except VisitFailed:
                    pass
                except (aiohttp.ClientError, ConnectionError, TimeoutError, OSError) as exc:
                    self.s.recorder.count(f"kiosk.failed.{_failure(exc)}")
                await self._retry_later()
        except Stopped:
            return

    async def _watch(self, client: SeatClient) -> None:
        """Until the run stops or the connection drops."""
        waits = [asyncio.ensure_future(client.wait_closed()),
                 asyncio.ensure_future(self.s.stopping.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)


def summary_counts(frame: dict[str, Any] | None) -> dict[str, Any] | None:
    if frame is None:
        return None
    return {k: frame.get(k) for k in ("free", "held", "booked")}
