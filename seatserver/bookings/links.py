"""Ticket links: an address that opens a booking's ticket on any device.

The confirmation (the page after payment, the e-mail) carries
``<public URL>/tickets/<reference>.<mac>``, the mac the full 32 hex digits
(128 bits) of HMAC-SHA256(ticket key, "link:<reference>"). Whoever has the
link sees the ticket, as whoever holds a printed ticket does; no one can make
a link for a booking without the key, and the reference alone (50 random
bits, also read out over the phone) opens nothing.

Why not the ticket id of the QR code: that one is cut to 64 bits to keep the
code small for the door, which also knows the booking; a link is a bearer
credential on its own, so it gets the whole 128 bits, and its own prefix so
that a ticket id is never a link and a link never a ticket. It is signed
with the ticket key ring (``keys.Keyring``): a rotation keeps old links
working for the grace period, like printed tickets.
"""

from __future__ import annotations

import hmac
import re

from seatserver.bookings.gateway import sign
from seatserver.bookings.keys import Keyring
from seatserver.bookings.tickets import KEY

MAC_HEX = 32
_TOKEN = re.compile(r"([A-Z0-9]{10})\.([0-9a-f]{32})")


class TicketLinks:
    def __init__(self, keys: Keyring, public_url: str) -> None:
        self._keys = keys
        self._public_url = public_url.rstrip("/")

    def token(self, reference: str) -> str:
        return f"{reference}.{_mac(self._keys.signing(KEY), reference)}"

    def path(self, reference: str) -> str:
        """The ticket page's path on this site (for links within the pages)."""
        return f"/tickets/{self.token(reference)}"

    def url(self, reference: str) -> str:
        """The absolute link people are sent, on the configured public URL."""
        return self._public_url + self.path(reference)

    def verify(self, token: str) -> str | None:
        """The booking reference a genuine link token names; None for anything
        else (forged, cut short, another booking's, a key past its grace)."""
        found = _TOKEN.fullmatch(token) if len(token) == 43 else None
        if found is None:
            return None
        reference, mac = found.groups()
        if not any(hmac.compare_digest(_mac(key, reference), mac)
                   for key in self._keys.verifying(KEY)):
            return None
        return reference


def _mac(key: str, reference: str) -> str:
    return sign(key, "link:" + reference)[:MAC_HEX]
