"""The session cookie and its CSRF companion, set and cleared together."""

from __future__ import annotations

from aiohttp import web

from seatserver.accounts.csrf import CSRF_COOKIE, csrf_token
from seatserver.accounts.proxies import TrustedProxies
from seatserver.accounts.sessions import SESSION_COOKIE, SESSION_LIFETIME

_MAX_AGE = int(SESSION_LIFETIME.total_seconds())


class SessionCookies:
    """Secure whenever the browser reached us over TLS (directly or through a
    trusted proxy), or always with ``always_secure``: a Secure cookie is never
    sent over plain HTTP, so setting it on an HTTP-only site would log
    everyone out."""

    def __init__(self, proxies: TrustedProxies, *, always_secure: bool = False) -> None:
        self._proxies = proxies
        self._always = always_secure

    def secure(self, request: web.Request) -> bool:
        return self._always or self._proxies.is_https(request)

    def set(self, request: web.Request, response: web.StreamResponse, token: str) -> None:
        # HttpOnly: page scripts never need the session token (the WebSocket
        # upgrade carries the cookie); Lax: sent on top-level navigation, not
        # on cross-site subrequests.
        secure = self.secure(request)
        response.set_cookie(SESSION_COOKIE, token, max_age=_MAX_AGE, path="/",
                            httponly=True, samesite="Lax", secure=secure)
        self.set_csrf(request, response, token)

    def set_csrf(self, request: web.Request, response: web.StreamResponse,
                 token: str) -> None:
        # Readable by our pages (not HttpOnly): they copy it into X-CSRF-Token.
        response.set_cookie(CSRF_COOKIE, csrf_token(token), max_age=_MAX_AGE, path="/",
                            samesite="Lax", secure=self.secure(request))

    def clear(self, request: web.Request, response: web.StreamResponse) -> None:
        secure = self.secure(request)
        for name in (SESSION_COOKIE, CSRF_COOKIE):
            response.del_cookie(name, path="/", secure=secure, samesite="Lax")
