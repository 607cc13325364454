"""The buyer's receipt page (``GET /bookings/{ref}``), printable, with the ticket.

Rendered here rather than by a script: it must read right when printed,
saved or opened with scripts off, and it carries the ticket's QR code inline
so that a printout needs nothing else. It uses the pages' shared styles and
speaks like them: seats by row and number, money with its currency sign,
the start in the theater's own time zone.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime, tzinfo

from seatserver.bookings.models import Booking
from seatserver.bookings.tickets import qr_svg
from seatserver.catalog.models import ShowtimeDetail

# Currencies people read with a sign in front; others get their code after.
_SIGNS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "INR": "₹"}
# ISO 4217 minor units where they are not 2.
_EXPONENTS = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "BHD": 3, "KWD": 3,
              "JOD": 3, "OMR": 3, "TND": 3}
# Seat type codes as the pages write them out (see web/shared/format.js).
_TYPE_NAMES = {"vip": "VIP", "d_box": "D-Box", "imax": "IMAX"}

_HEADLINES = {
    "booked": "You're booked",
    "pending": "Waiting for your payment",
    "expired": "This booking did not go through",
    "cancelled": "This booking was cancelled",
}
_PAYMENT_WORDS = {
    "created": "not paid yet", "authorized": "authorised, not yet taken",
    "captured": "paid", "failed": "not paid", "refunded": "refunded",
    "partially_refunded": "partly refunded",
}


def format_money(amount: int, currency: str) -> str:
    """"€12.50" from 1250 minor units of EUR; "12.50 CHF" for a currency without a sign."""
    exponent = _EXPONENTS.get(currency, 2)
    whole, minor = divmod(abs(amount), 10 ** exponent)
    number = f"{whole:,}" + (f".{minor:0{exponent}d}" if exponent else "")
    sign = "-" if amount < 0 else ""
    symbol = _SIGNS.get(currency)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {currency}"


def format_start(starts_at: datetime) -> str:
    """"Sat 14 Jun 2025, 20:00 CEST": the start as the theater's clocks show it."""
    return f"{starts_at:%a} {starts_at.day} {starts_at:%b %Y, %H:%M %Z}".strip()


def type_name(code: str) -> str:
    return _TYPE_NAMES.get(code, code[:1].upper() + code[1:].replace("_", " "))


def seat_name(show: ShowtimeDetail | None, seat_id: str) -> str:
    """"Row E, seat 7"; the seat id when the map no longer has it."""
    if show is not None:
        for seat in show.seats:
            if seat.id == seat_id:
                return f"Row {seat.row}, seat {seat.number}"
    return f"Seat {seat_id}"


def render_receipt(booking: Booking, show: ShowtimeDetail | None, ticket: str | None,
                   *, static_url: str, link: str, calendar: str) -> str:
    """The page; ``link`` is the booking's absolute ticket link (shown so the
    buyer can keep it), ``calendar`` the path of its ``.ics``."""
    e = html.escape
    title = show.movie.title if show else f"Showtime {booking.showtime}"
    # Every time on the page as the theater's clocks show it.
    zone = (show.starts_at.tzinfo if show else None) or UTC
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light">\n'
        f"<title>Booking {e(booking.reference)} · {e(title)} · seatserver</title>\n"
        f'<link rel="icon" href="{static_url}/shared/icon.svg" type="image/svg+xml">\n'
        f'<link rel="stylesheet" href="{static_url}/shared/base.css">\n'
        f'<link rel="stylesheet" href="{static_url}/receipt/receipt.css">\n'
        f'<script type="module" src="{static_url}/receipt/receipt.js"></script>\n'
        "</head>\n<body>\n"
        '<header class="receipt-header">'
        f'<a class="back" href="/showtimes/{booking.showtime}">Back to the seat map</a>'
        '<button id="print" class="print" type="button" hidden>Print</button></header>\n'
        f'<main class="receipt" data-status="{e(booking.status)}">\n'
        f"<h1>{_HEADLINES.get(booking.status, e(booking.status))}</h1>\n"
        f"{_lede(booking, zone)}\n{_show(show, title)}\n{_facts(booking, zone)}\n"
        f"{_seats(booking, show)}\n{_ticket(ticket)}\n{_keep(booking, link, calendar)}\n"
        "</main>\n</body>\n</html>\n")


def _clock(moment: datetime, zone: tzinfo) -> str:
    return f"{moment.astimezone(zone):%H:%M %Z}"


def _lede(booking: Booking, zone: tzinfo) -> str:
    total = format_money(booking.total.amount, booking.total.currency)
    refunded = booking.payment.refunded.amount if booking.payment else 0
    back = format_money(refunded, booking.total.currency)
    if booking.status == "booked":
        text = "Your seats are yours. Show the code below at the door, on paper or on a screen."
    elif booking.status == "pending":
        until = _clock(booking.hold_deadline, zone)
        text = (f"We have not heard from the payment provider yet. Your seats stay held "
                f"for you until {until}; this page shows the ticket once {total} is paid.")
    elif booking.status == "cancelled":
        text = f"{back} of {total} was refunded to you." if refunded else (
            "Nothing was refunded.")
    elif booking.attention == "late_payment_refunded":
        text = (f"Your payment arrived after the seats had been released and sold to "
                f"someone else, so it was refunded in full ({back}).")
    else:
        text = "The payment was declined or timed out: nothing was charged and the seats " \
               "were released. You can pick seats again on the seat map."
    return f'<p class="lede">{html.escape(text)}</p>'


def _show(show: ShowtimeDetail | None, title: str) -> str:
    e = html.escape
    if show is None:
        return f'<section class="show"><h2>{e(title)}</h2></section>'
    where = f"{show.theater.name}, {show.screen.name}"
    return (
        '<section class="show" aria-labelledby="show-title">'
        f'<h2 id="show-title">{e(title)}</h2>'
        f'<p><time datetime="{show.starts_at.isoformat()}">{e(format_start(show.starts_at))}'
        f"</time><br>{e(where)}</p></section>")


def _facts(booking: Booking, zone: tzinfo) -> str:
    e = html.escape
    payment = booking.payment
    paid = _PAYMENT_WORDS.get(payment.status, payment.status) if payment else "not started"
    return (
        '<dl class="facts">'
        f'<div><dt>Booking</dt><dd><strong class="reference" data-status="{e(booking.status)}">'
        f"{e(booking.reference)}</strong></dd></div>"
        f"<div><dt>Payment</dt><dd>{e(paid)}</dd></div>"
        f"<div><dt>Booked on</dt><dd>{booking.created_at.astimezone(zone):%d %b %Y}, "
        f"{_clock(booking.created_at, zone)}</dd></div>"
        "</dl>")


def _seats(booking: Booking, show: ShowtimeDetail | None) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(seat_name(show, s.id))}</td><td>{e(type_name(s.type))}</td>"
        f'<td class="amount">{format_money(s.price.amount, s.price.currency)}</td></tr>'
        for s in booking.seats)
    extra = ""
    if booking.payment is not None and booking.payment.refunded.amount:
        extra = ('<tr><th scope="row" colspan="2">Refunded</th><td class="amount">'
                 f"{format_money(booking.payment.refunded.amount, booking.total.currency)}"
                 "</td></tr>")
    return (
        '<table class="seats"><caption>Seats</caption>'
        '<thead><tr><th scope="col">Seat</th><th scope="col">Type</th>'
        '<th scope="col" class="amount">Price</th></tr></thead>'
        f"<tbody>{rows}</tbody><tfoot>"
        '<tr><th scope="row" colspan="2">Total</th><td class="amount">'
        f"{format_money(booking.total.amount, booking.total.currency)}</td></tr>"
        f"{extra}</tfoot></table>")


def _keep(booking: Booking, link: str, calendar: str) -> str:
    """The ticket link and the calendar entry: how the ticket reaches other devices."""
    if booking.status not in ("booked", "cancelled"):
        return ""
    e = html.escape
    sent = (f"We sent it to <strong>{e(booking.email)}</strong>. " if booking.email
            and booking.status == "booked" else "")
    return (
        '<section class="keep" aria-labelledby="keep-title">'
        '<h2 id="keep-title">Your ticket on any device</h2>'
        f"<p>{sent}This link opens this page, with the ticket, on any phone or computer, "
        "no log-in needed. Keep it to yourself: whoever has it can show the ticket.</p>"
        f'<p class="link"><a href="{e(link)}">{e(link)}</a></p>'
        f'<p><a class="calendar" href="{e(calendar)}" download>Add to calendar (.ics)</a></p>'
        "</section>")


def _ticket(ticket: str | None) -> str:
    if ticket is None:
        return ""
    # Inline, so the printed receipt needs no second request to show it.
    code = qr_svg(ticket, scale=5).replace(
        "<svg ", '<svg role="img" aria-label="QR code of your ticket" ', 1)
    return (f'<figure class="ticket">{code}'
            "<figcaption><strong>Ticket</strong><br><code>" + html.escape(ticket)
            + "</code><br>Show this code at the door; it admits once.</figcaption></figure>")
