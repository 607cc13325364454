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


# The part of an IPv6 address one subscriber line gets: a household or an
# office is routed a whole /64 (often a /56), so counting per address would
# let one client pick a fresh address for every request.
IPV6_SUBSCRIBER_PREFIX = 64


def quota_subject(address: str) -> str:
    """What per-address limits count against: an IPv4 address as it is, an
    IPv6 address as its /64 network (an IPv4-mapped one as the IPv4 address);
    anything else (``unknown``, a unix socket) as given."""
    parsed = _address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        net = ipaddress.IPv6Network((parsed, IPV6_SUBSCRIBER_PREFIX), strict=False)
        return str(net)
    return str(parsed) if parsed is not None else address[:64]


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

    def client_subject(self, request: web.Request) -> str:
        """The client's address as per-address limits count it (``quota_subject``)."""
        return quota_subject(self.client_address(request))

    def is_https(self, request: web.Request) -> bool:
        """Whether the browser reached us (or our trusted proxy) over TLS."""
        if request.secure:
            return True
        if not self._trusted(request.remote):
            return False
        proto = request.headers.get("X-Forwarded-Proto", "")
        return proto.split(",")[0].strip().lower() == "https"
