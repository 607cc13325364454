"""The booking's calendar entry (RFC 5545): parsed back, folded, escaped."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from seatserver.bookings.calendar import booking_ics, escape_text, fold
from seatserver.bookings.models import BookedSeat, Booking
from seatserver.catalog.models import (
    Movie,
    Price,
    Screen,
    SeatingRules,
    ShowtimeDetail,
    Theater,
)

BERLIN = ZoneInfo("Europe/Berlin")


def parse_ics(data: bytes) -> dict[str, str]:
    """The VEVENT's properties, unfolded and unescaped, as a calendar reads them.
    Refuses anything but CRLF line ends and lines over 75 octets."""
    assert data.endswith(b"\r\n")
    lines = data.split(b"\r\n")[:-1]
    assert all(b"\n" not in line and b"\r" not in line for line in lines)
    assert all(len(line) <= 75 for line in lines), max(lines, key=len)
    unfolded: list[bytes] = []
    for line in lines:
        if line.startswith(b" "):
            unfolded[-1] += line[1:]
        else:
            unfolded.append(line)
    text = [line.decode("utf-8") for line in unfolded]
    assert text[0] == "BEGIN:VCALENDAR" and text[-1] == "END:VCALENDAR"
    assert "VERSION:2.0" in text and any(t.startswith("PRODID:") for t in text)
    start, end = text.index("BEGIN:VEVENT"), text.index("END:VEVENT")
    event: dict[str, str] = {}
    for line in text[start + 1:end]:
        name, _, value = line.partition(":")
        event[name] = re.sub(r"\\([\\;,nN])", lambda m: "\n" if m[1] in "nN" else m[1], value)
    return event


def _show(title: str, theater: str = "Kino am Park", screen: str = "Saal 1") -> ShowtimeDetail:
    start = datetime(2026, 3, 28, 20, 0, tzinfo=BERLIN)
    return ShowtimeDetail(
        id=7, starts_at=start, currency="EUR",
        movie=Movie(1, title, "", 125, None, None, ["en"], [], "film"),
        theater=Theater(1, theater, "Berlin", "Parkstraße 1, 10115 Berlin", "Europe/Berlin",
                        "kino", 15),
        screen=Screen(1, screen, {}), prices={}, ends_at=start + timedelta(minutes=125),
        sales_close_at=start - timedelta(minutes=10),
        seating=SeatingRules(no_orphans=False, companions_alone=False), seats=[])


def _booking(status: str = "booked") -> Booking:
    created = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    return Booking(reference="ABCDEFGHJK", showtime=7, status=status, total=Price(2500, "EUR"),
                   seats=[BookedSeat("E8", "gold", Price(1250, "EUR")),
                          BookedSeat("E10", "gold", Price(1250, "EUR"))],
                   payment=None, hold_deadline=created, attention=None, created_at=created,
                   email="ana@example.com", phone=None, user_id=1)


LINK = "https://tickets.example.com/tickets/ABCDEFGHJK." + "0123456789abcdef" * 2


def test_calendar_entry_parses_back_with_the_show_in_utc() -> None:
    ics = booking_ics(_booking(), _show("Northern Lights"), link=LINK,
                      seats=["Row E, seat 8", "Row E, seat 10"],
                      now=datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC))
    event = parse_ics(ics.encode())
    assert event["SUMMARY"] == "Northern Lights"
    # 20:00 in Berlin on 28 March 2026 (still CET, UTC+1) is 19:00 UTC.
    assert (event["DTSTART"], event["DTEND"]) == ("20260328T190000Z", "20260328T210500Z")
    assert event["DTSTAMP"] == "20260301T120005Z"
    assert event["UID"] == "booking-ABCDEFGHJK@seatserver"
    assert event["LOCATION"] == "Kino am Park, Saal 1, Parkstraße 1, 10115 Berlin"
    assert event["STATUS"] == "CONFIRMED" and event["URL"] == LINK
    assert "Row E, seat 8; Row E, seat 10" in event["DESCRIPTION"]
    assert LINK in event["DESCRIPTION"]


def test_uid_is_stable_and_a_cancellation_supersedes_the_entry() -> None:
    booked = parse_ics(booking_ics(_booking(), _show("X"), link=LINK, seats=[]).encode())
    cancelled = parse_ics(booking_ics(_booking("cancelled"), _show("X"), link=LINK,
                                      seats=[]).encode())
    assert booked["UID"] == cancelled["UID"]
    assert cancelled["STATUS"] == "CANCELLED"
    assert int(cancelled["SEQUENCE"]) > int(booked["SEQUENCE"])


def test_titles_with_commas_semicolons_and_backslashes_are_escaped() -> None:
    title = "Love, Death; Robots \\ Part 2\nDirector's cut"
    ics = booking_ics(_booking(), _show(title, theater="Kino, Bar; Café"), link=LINK,
                      seats=["Row E, seat 8"])
    raw = ics.replace("\r\n ", "")
    assert "SUMMARY:Love\\, Death\\; Robots \\\\ Part 2\\nDirector's cut\r\n" in raw
    assert "LOCATION:Kino\\, Bar\\; Café\\, Saal 1" in raw
    event = parse_ics(ics.encode())
    assert event["SUMMARY"] == title
    assert event["LOCATION"].startswith("Kino, Bar; Café, Saal 1")


def test_long_lines_fold_at_75_octets_never_inside_a_character() -> None:
    title = "Ü" * 100 + "🎬" * 30 + "x" * 80
    ics = booking_ics(_booking(), _show(title), link=LINK, seats=[])
    lines = ics.encode().split(b"\r\n")
    assert max(len(line) for line in lines) == 75  # folded exactly at the limit
    for line in lines:
        line.decode("utf-8")  # each physical line is whole UTF-8
    assert parse_ics(ics.encode())["SUMMARY"] == title
    assert fold("A" * 75) == "A" * 75
    assert fold("A" * 76) == "A" * 75 + "\r\n A"
    assert escape_text("a,b;c\\d\r\ne") == "a\\,b\\;c\\\\d\\ne"
