"""Tickets: a booking reference signed so the door can check it offline.

The ticket id is ``<reference>.<mac>``, the mac the first 16 hex digits
(64 bits) of HMAC-SHA256(ticket key, "ticket:<reference>"): short enough
for a small QR code a phone camera reads from a crumpled printout, and far
beyond guessing for the few thousand seats of a show. A scanner holding the
key verifies without asking the server; whether the booking is still
valid (not cancelled) is the server's to say. Tickets are signed with the
newest key and verify with any key still valid (see ``keys.Keyring``), so a
rotation does not void tickets already issued until its grace period ends.
"""

from __future__ import annotations

import hmac
import io

import segno

from seatserver.bookings.gateway import sign
from seatserver.bookings.keys import Keyring

MAC_HEX = 16
KEY = "ticket"


class TicketSigner:
    def __init__(self, keys: Keyring) -> None:
        self._keys = keys

    def issue(self, reference: str) -> str:
        return f"{reference}.{_mac(self._keys.signing(KEY), reference)}"

    def verify(self, ticket: str) -> str | None:
        """The booking reference a genuine ticket id names; None for anything else."""
        reference, dot, mac = ticket.rpartition(".")
        if not dot or not reference or len(mac) != MAC_HEX:
            return None
        if not any(hmac.compare_digest(_mac(key, reference), mac)
                   for key in self._keys.verifying(KEY)):
            return None
        return reference


def _mac(key: str, reference: str) -> str:
    return sign(key, "ticket:" + reference)[:MAC_HEX]


def _code(ticket: str) -> segno.QRCode:
    # Error level Q (25 % may be damaged or covered) at no cost in size for
    # ids this short; micro=False because many phone scanners skip Micro QR.
    return segno.make_qr(ticket, error="q", boost_error=False)


def qr_svg(ticket: str, *, scale: int = 4, standalone: bool = False) -> str:
    """The ticket id as SVG: an element to inline in HTML, or a standalone
    document (XML declaration and namespace) to serve as image/svg+xml."""
    code = _code(ticket)
    if not standalone:
        return code.svg_inline(scale=scale, title=f"Ticket {ticket}")
    out = io.BytesIO()
    code.save(out, kind="svg", scale=scale, title=f"Ticket {ticket}", xmldecl=True,
              svgns=True)
    return out.getvalue().decode()


def qr_png(ticket: str, *, scale: int = 8) -> bytes:
    out = io.BytesIO()
    _code(ticket).save(out, kind="png", scale=scale)
    return out.getvalue()
