"""The Host header, checked at the edge for every route.

aiohttp builds ``request.url`` from the Host header, and yarl raises
``ValueError`` for an empty host or a port beyond 65535: any handler, or
library, that touched ``request.url`` answered 500. The server never uses the
Host header to decide where anything goes (return and webhook URLs come from
``SEATSERVER_PUBLIC_URL``), but CSRF and WebSocket origin checks compare with
it, so a request whose Host is not a plain ``host[:port]`` is refused here,
before any handler runs: 400 ``bad_request``.
"""

from __future__ import annotations

import ipaddress
import re

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from seatserver.http.errors import error_response

# A DNS name (labels of letters, digits, '-' and '_'), an IPv4 address or a
# bracketed IPv6 address, then an optional port of ASCII digits.
_HOST = re.compile(r"^(?:(?P<name>[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})"
                   r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?)"
                   r"|\[(?P<ipv6>[0-9A-Fa-f:.]{2,45})\])"
                   r"(?::(?P<port>[0-9]{1,5}))?$", re.ASCII)
_MAX_HOST = 260


def valid_host(value: str) -> bool:
    """Whether ``value`` is a Host header this server accepts."""
    found = _HOST.match(value) if len(value) <= _MAX_HOST else None
    if found is None:
        return False
    port = found["port"]
    if port is not None and not 1 <= int(port) <= 65_535:
        return False
    if found["ipv6"] is not None:
        try:
            ipaddress.IPv6Address(found["ipv6"])
        except ValueError:
            return False
    return True


@web.middleware
async def host_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    # HTTP/1.1 without a Host never gets here (aiohttp's parser answers 400);
    # HTTP/1.0 may omit it, and then aiohttp uses this machine's name.
    host = request.headers.get(hdrs.HOST)
    if host is not None and not valid_host(host):
        return error_response(400, "bad_request",
                              "the Host header must be a host name or address with an "
                              "optional port (1-65535)")
    return await handler(request)
