"""Client address and TLS behind proxies: believed only from trusted ones."""

from __future__ import annotations

import ipaddress

import pytest
from aiohttp.test_utils import make_mocked_request

from seatserver.accounts.cookies import SessionCookies
from seatserver.accounts.proxies import TrustedProxies
from seatserver.settings import Settings, SettingsError

BALANCER = "10.0.0.5"


def request(peer: str, **headers: str):  # type: ignore[no-untyped-def]
    class Transport:
        def get_extra_info(self, name: str, default: object = None) -> object:
            return (peer, 51000) if name == "peername" else default

    return make_mocked_request("GET", "/", headers=headers, transport=Transport())


proxies = TrustedProxies((ipaddress.ip_network("10.0.0.0/24"),))


def test_forwarded_headers_from_an_untrusted_peer_are_ignored() -> None:
    forged = request("203.0.113.9", **{"X-Forwarded-For": "198.51.100.1",
                                       "X-Forwarded-Proto": "https"})

    assert proxies.client_address(forged) == "203.0.113.9"
    assert proxies.is_https(forged) is False


def test_a_trusted_proxy_names_the_client_and_its_scheme() -> None:
    behind = request(BALANCER, **{"X-Forwarded-For": "198.51.100.1, 10.0.0.7",
                                  "X-Forwarded-Proto": "https"})

    assert proxies.client_address(behind) == "198.51.100.1"
    assert proxies.is_https(behind) is True


def test_entries_left_of_the_first_untrusted_hop_may_be_forged_and_are_skipped() -> None:
    behind = request(BALANCER, **{"X-Forwarded-For": "1.2.3.4, 198.51.100.1"})

    assert proxies.client_address(behind) == "198.51.100.1"


def test_cookies_are_secure_behind_a_tls_proxy_or_when_forced() -> None:
    plain = request(BALANCER, **{"X-Forwarded-Proto": "http"})
    tls = request(BALANCER, **{"X-Forwarded-Proto": "https"})

    assert SessionCookies(proxies).secure(plain) is False
    assert SessionCookies(proxies).secure(tls) is True
    assert SessionCookies(proxies, always_secure=True).secure(plain) is True


def test_trusted_proxies_and_secure_cookies_are_read_from_the_environment() -> None:
    settings = Settings.from_env({"SEATSERVER_TRUSTED_PROXIES": "10.0.0.0/8, ::1",
                                  "SEATSERVER_SECURE_COOKIES": "true"})

    assert settings.trusted_proxies == (ipaddress.ip_network("10.0.0.0/8"),
                                        ipaddress.ip_network("::1"))
    assert settings.secure_cookies is True
    with pytest.raises(SettingsError, match="SEATSERVER_TRUSTED_PROXIES"):
        Settings.from_env({"SEATSERVER_TRUSTED_PROXIES": "the balancer"})
    with pytest.raises(SettingsError, match="SEATSERVER_SECURE_COOKIES"):
        Settings.from_env({"SEATSERVER_SECURE_COOKIES": "maybe"})
