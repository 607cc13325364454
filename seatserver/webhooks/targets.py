"""Where webhooks may go: public https endpoints, never the server's own network.

An endpoint URL is checked when it is registered (``check_url``) and again,
by the addresses its name resolves to, at every delivery
(``GuardedResolver``): a name that resolved to a public address when it was
registered may point at 10.0.0.5 or 169.254.169.254 tomorrow (DNS rebinding),
and the server must not become a way to reach what sits behind it (SSRF).

``allow_local`` (``SEATSERVER_WEBHOOK_ALLOW_LOCAL``, for development and
tests) lets ``http://`` and ``https://`` go to ``localhost``, ``127.0.0.1``
and ``[::1]``; every other private, loopback, link-local, multicast or
reserved address stays refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import re
import socket
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import SplitResult, urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult

MAX_URL_LENGTH = 2048
# Threads of the delivery's own DNS look-ups.
DNS_THREADS = 4
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
# Names that never leave the local network, whatever they resolve to.
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")
# Dotted numbers, octal or hex parts included: what inet_aton reads as IPv4.
_LEGACY_IPV4 = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedTarget(ValueError):
    """A URL or address webhooks may not be sent to; the message says why."""


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _host_address(host: str) -> Address | None:
    """The address a URL's host is written as, in the forms the resolver also
    reads as one: ``127.1``, ``0177.0.0.1`` and ``0x7f.1`` are 127.0.0.1."""
    address = _address(host)
    if address is None and _LEGACY_IPV4.fullmatch(host):
        with contextlib.suppress(OSError):
            address = ipaddress.IPv4Address(socket.inet_aton(host))
    return address


def public(address: Address, *, allow_local: bool) -> bool:
    """Whether webhooks may go to ``address``."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if allow_local and address.is_loopback:
        return True
    return address.is_global and not address.is_multicast


def check_url(url: str, *, allow_local: bool) -> str:
    """``url`` if webhooks may be sent to it, else ``RefusedTarget``."""
    parts = _parts(url)
    # "localhost." is localhost: a name's trailing dot only says it is whole.
    host = (parts.hostname or "").lower().removesuffix(".")
    local = host in LOCAL_NAMES
    if local and not allow_local:
        raise RefusedTarget(f"{host} is this server's own machine")
    if parts.scheme == "http" and not local:
        raise RefusedTarget("must start with https:// (plain http only to localhost, "
                            "when SEATSERVER_WEBHOOK_ALLOW_LOCAL allows it)")
    address = _host_address(host)
    if address is not None and not public(address, allow_local=allow_local):
        raise RefusedTarget(f"{host} is a private or reserved address")
    if address is None and not local and (host.endswith(_LOCAL_SUFFIXES) or "." not in host):
        raise RefusedTarget(f"{host} is a local name")
    return url


def _parts(url: str) -> SplitResult:
    """``url`` split, when it is an absolute http(s) URL with a host and
    nothing webhooks have no use for (user, password, fragment)."""
    if len(url) > MAX_URL_LENGTH:
        raise RefusedTarget(f"at most {MAX_URL_LENGTH} characters")
    if not url.isascii() or not url.isprintable() or " " in url:
        raise RefusedTarget("only printable ASCII, no spaces (write an international "
                            "domain name in its xn-- form)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RefusedTarget(f"not a URL ({exc})") from None
    if parts.scheme not in ("https", "http"):
        raise RefusedTarget("must start with https://")
    if not parts.hostname:
        raise RefusedTarget("has no host")
    if parts.username is not None or parts.password is not None:
        raise RefusedTarget("may not carry a user name or password")
    if parts.fragment:
        raise RefusedTarget("may not have a #fragment")
    if port == 0:
        raise RefusedTarget("port 0 is not a port")
    return parts


class GuardedResolver(AbstractResolver):
    """Resolves a name, then refuses it if any of its addresses is one webhooks
    may not go to: the check is made on the addresses the connection will use,
    not on the name. Lookups run in threads of their own, so a DNS server that
    hangs ties up these and not the default executor the rest of the process
    shares (password hashing, file writes)."""

    def __init__(self, *, allow_local: bool, threads: int = DNS_THREADS) -> None:
        self._allow_local = allow_local
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="webhook-dns")

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        lookup = functools.partial(socket.getaddrinfo, host, port, family=family,
                                   type=socket.SOCK_STREAM, flags=socket.AI_ADDRCONFIG)
        infos = await asyncio.get_running_loop().run_in_executor(self._executor, lookup)
        found: list[ResolveResult] = []
        for kind, _, proto, _, sockaddr in infos:
            text = str(sockaddr[0])
            address = _address(text.partition("%")[0])
            if address is None or not public(address, allow_local=self._allow_local):
                raise OSError(f"refused: {host} resolves to {text}, "
                              "a private or reserved address")
            found.append(ResolveResult(hostname=host, host=text, port=int(sockaddr[1]),
                                       family=kind, proto=proto,
                                       flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV))
        if not found:
            raise OSError(f"{host} has no address")
        return found

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
