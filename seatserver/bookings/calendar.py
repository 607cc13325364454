"""A booking as a calendar entry (RFC 5545): the ``.ics`` attached to the
confirmation e-mail and offered on the ticket page.

One VEVENT: the film as SUMMARY, the start and end (the film's runtime) in
UTC with ``Z`` (no VTIMEZONE to get wrong; calendars show it in the reader's
zone), the cinema and screen as LOCATION, the seats and the ticket link in
DESCRIPTION. The UID is the booking's, so importing the entry again (or the
cancelled one) updates it rather than adding a second; SEQUENCE grows with the
status so that a cancellation wins over the booked entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from seatserver.bookings.models import Booking
from seatserver.catalog.models import ShowtimeDetail

# RFC 5545 3.1: lines of at most 75 octets, continued on the next after CRLF + space.
_LINE_OCTETS = 75
_SEQUENCE = {"pending": 0, "booked": 1, "expired": 2, "cancelled": 2}


def escape_text(value: str) -> str:
    """A TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and newline escaped."""
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def fold(line: str) -> str:
    """One content line folded at 75 octets, never inside a UTF-8 character."""
    out: list[str] = []
    current, size = "", 0
    for char in line:
        width = len(char.encode())
        limit = _LINE_OCTETS if not out else _LINE_OCTETS - 1  # the leading space counts
        if size + width > limit:
            out.append(current)
            current, size = "", 0
        current += char
        size += width
    out.append(current)
    return "\r\n ".join(out)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def booking_ics(booking: Booking, show: ShowtimeDetail, *, link: str, seats: Iterable[str],
                now: datetime | None = None) -> str:
    """The calendar file of ``booking`` (``seats``: the seat names, in order)."""
    where = f"{show.theater.name}, {show.screen.name}"
    if show.theater.address:
        where += f", {show.theater.address}"
    description = (f"Booking {booking.reference}. Seats: {'; '.join(seats)}.\n"
                   f"Your ticket and its QR code: {link}")
    status = "CANCELLED" if booking.status in ("cancelled", "expired") else "CONFIRMED"
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//seatserver//tickets//EN",
        "CALSCALE:GREGORIAN", "METHOD:PUBLISH", "BEGIN:VEVENT",
        f"UID:booking-{booking.reference}@seatserver",
        f"DTSTAMP:{_utc(now or datetime.now(UTC))}",
        f"SEQUENCE:{_SEQUENCE.get(booking.status, 0)}",
        f"DTSTART:{_utc(show.starts_at)}", f"DTEND:{_utc(show.ends_at)}",
        f"SUMMARY:{escape_text(show.movie.title)}",
        f"LOCATION:{escape_text(where)}",
        f"DESCRIPTION:{escape_text(description)}",
        f"URL:{link}",
        f"STATUS:{status}",
        "END:VEVENT", "END:VCALENDAR",
    ]
    return "".join(fold(line) + "\r\n" for line in lines)
