"""The one-holder-per-seat proofs on hand-made histories: a double grant is
caught by each of them, and what is legitimate is not flagged.

A real server never double-grants (tests/realtime/test_race.py races 200
clients for it), so the audit's power to notice one is shown here, on
records shaped like the ones clients keep.
"""

from __future__ import annotations

from seatserver.changefeed.events import Event, parse_offset
from seatserver.loadgen.ledger import CheckoutRecord, Grant, Unanswered
from seatserver.loadgen.ownership import check_stream, check_timeline
from seatserver.loadgen.streamtail import Initial

SHOW = 7


def event(n: int, kind: str, seats: str, deadline: int | None = None) -> Event:
    offset = f"1000-{n}"
    position = parse_offset(offset)
    assert position is not None
    return Event(offset, position, kind, tuple(seats.split(",")), deadline)


def grant(client: str, seats: str, deadline: int, sent: float = 0.0, acked: float = 1.0,
          end: float | None = None) -> Grant:
    g = Grant(client, int(client[1:]), SHOW, tuple(seats.split(",")), sent, acked, deadline)
    if end is not None:
        g.ends = dict.fromkeys(g.seats, end)
    return g


def stream(events: list[Event], grants: list[Grant], *, held: set[str] | None = None,
           unanswered: list[Unanswered] | None = None,
           checkouts: list[CheckoutRecord] | None = None) -> tuple[int, list[str]]:
    findings = check_stream({SHOW: Initial("0-0", held or set(), set())}, {SHOW: events},
                            grants, unanswered or [], checkouts or [])
    return findings.violations, findings.details


def test_stream_check_passes_a_seat_released_then_granted_to_another() -> None:
    a, b = grant("c1", "A1", 500), grant("c2", "A1", 600)
    events = [event(1, "hold", "A1", 500), event(2, "release", "A1"),
              event(3, "hold", "A1", 600)]

    assert stream(events, [a, b]) == (0, [])


def test_stream_check_catches_a_seat_granted_while_another_holds_it() -> None:
    a, b = grant("c1", "A1,A2", 500), grant("c2", "A2", 600)
    events = [event(1, "hold", "A1,A2", 500), event(2, "hold", "A2", 600)]

    violations, details = stream(events, [a, b])

    assert violations == 1
    assert "A2 granted to c2 (ack) while c1 held it" in details[0]


def test_stream_check_catches_a_grant_of_a_booked_seat() -> None:
    a, b = grant("c1", "A1", 500), grant("c2", "A1", 600)
    events = [event(1, "hold", "A1", 500), event(2, "book", "A1"), event(3, "hold", "A1", 600)]

    violations, details = stream(events, [a, b])

    assert violations == 1 and "while booked" in details[0]


def test_stream_check_catches_an_ack_the_stream_never_saw() -> None:
    a = grant("c1", "A1", 500)

    violations, details = stream([event(1, "hold", "A1", 499)], [a])

    # The event at 499 is someone else's; c1's grant has no event at all.
    assert violations == 1 and "the stream has no such hold" in details[0]


def test_stream_check_catches_a_grant_over_a_hold_from_before_the_run() -> None:
    violations, details = stream([event(1, "hold", "B5", 500)], [grant("c1", "B5", 500)],
                                 held={"B5"})

    assert violations == 1 and "while a holder from before the run held it" in details[0]


def test_stream_check_attributes_checkout_holds_to_their_buyer() -> None:
    a = grant("c1", "A1,A2", 500)
    checkout = CheckoutRecord("c1", 1, SHOW, ("A1", "A2"), 2.0, hold_deadline_ms=9000)
    # The payment window's hold, then a failed checkout putting the holds back.
    events = [event(1, "hold", "A1,A2", 500), event(2, "hold", "A1,A2", 9000),
              event(3, "hold", "A1,A2", 501)]

    assert stream(events, [a], checkouts=[checkout]) == (0, [])


def test_stream_check_attributes_a_hold_whose_ack_was_lost() -> None:
    lost = Unanswered("c1", 1, SHOW, ("A1",), 0.0)
    again = grant("c1", "A1", 800)
    events = [event(1, "hold", "A1", 500), event(2, "hold", "A1", 800)]

    assert stream(events, [again], unanswered=[lost]) == (0, [])


def test_stream_check_blames_no_lost_ack_for_a_checkout_cut_off_with_its_instance() -> None:
    """c2's hold of A1 went unanswered (a refusal, lost with its instance);
    c1's checkout of A1, whose answer was lost too, then extended c1's hold."""
    a = grant("c1", "A1", 500)
    refused = Unanswered("c2", 2, SHOW, ("A1",), 3.0)
    checkout = CheckoutRecord("c1", 1, SHOW, ("A1",), 4.0)
    events = [event(1, "hold", "A1", 500), event(2, "hold", "A1", 9000)]

    assert stream(events, [a], unanswered=[refused], checkouts=[checkout]) == (0, [])


def test_stream_check_catches_an_unexplained_hold_on_a_clients_seat() -> None:
    events = [event(1, "hold", "A1", 500), event(2, "hold", "A1", 700)]

    violations, details = stream(events, [grant("c1", "A1", 500)])

    assert violations == 1 and "someone outside the run" in details[0]


def test_clock_check_passes_grants_one_after_another() -> None:
    a = grant("c1", "A1", 0, sent=0, acked=10, end=50)
    b = grant("c2", "A1", 0, sent=40, acked=60)  # asked before a released: may be fine

    assert check_timeline([a, b], []).violations == 0


def test_clock_check_catches_a_grant_inside_another_clients_hold() -> None:
    a = grant("c1", "A1", 0, sent=0, acked=10, end=100)
    b = grant("c2", "A1", 0, sent=40, acked=60, end=70)
    own = grant("c1", "A1", 0, sent=20, acked=30, end=100)  # c1 holding it again

    findings = check_timeline([a, b, own], [])

    assert findings.violations == 1
    assert "granted to c2" in findings.details[0] and "while c1" in findings.details[0]


def test_clock_check_catches_a_grant_of_a_seat_seen_booked() -> None:
    booked = CheckoutRecord("c1", 1, SHOW, ("A1",), 5.0, done_ms=20.0, reference="REF",
                            outcome="booked")
    later = grant("c2", "A1", 0, sent=30, acked=35)

    findings = check_timeline([later], [booked])

    assert findings.violations == 1 and "booking REF" in findings.details[0]
