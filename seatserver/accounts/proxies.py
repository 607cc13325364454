"""What the client's connection really is when a proxy stands between us.

Behind a load balancer every request comes from the balancer's address over
plain HTTP. The client's address (for rate limits) and whether it used TLS
(for Secure cookies) are then only in ``X-Forwarded-For`` and
``X-Forwarded-Proto``, which anyone can send: they are believed only from
the proxies listed in ``SEATSERVER_TRUSTED_PROXIES``.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

from seatserver.settings import Network


def _address(raw: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not raw:
        return None
    try:
        return ipaddress.ip_address(raw.strip())
    except ValueError:
        return None


class TrustedProxies:
    def __init__(self, networks: tuple[Network, ...]) -> None:
        self._networks = networks

    def _trusted(self, raw: str | None) -> bool:
        address = _address(raw)
        return address is not None and any(address in net for net in self._networks)

    def client_address(self, request: web.Request) -> str:
        """The first address, from our side, that is not a trusted proxy.

        X-Forwarded-For is read from the right: each proxy appends the peer
        it saw, so entries left of the last untrusted one may be forged.
        """
        peer = request.remote or "unknown"
        if not self._trusted(peer):
            return peer
        hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", ()))
                .split(",") if h.strip()]
        for hop in reversed(hops):
            if not self._trusted(hop):
                return hop if _address(hop) else peer
        return hops[0] if hops else peer

    def is_https(self, request: web.Request) -> bool:
        """Whether the browser reached us (or our trusted proxy) over TLS."""
        if request.secure:
            return True
        if not self._trusted(request.remote):
            return False
        proto = request.headers.get("X-Forwarded-Proto", "")
        return proto.split(",")[0].strip().lower() == "https"
