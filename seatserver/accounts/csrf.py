"""Cross-site request forgery: a change made with the session cookie must
come from our own pages.

Two checks, both in ``RoleGate``:

- **Token** (cookie-authenticated POST/PUT/PATCH/DELETE): the request carries
  ``X-CSRF-Token``, equal to the session's CSRF token. The token is an HMAC
  keyed by the session token itself, so it needs no storage, changes with
  every new session, and only someone holding the session can compute it. Our
  pages read it from the ``seatserver_csrf`` cookie (not HttpOnly, set beside
  the session cookie); another site can neither read that cookie nor add the
  header to a cross-site request. Bearer-token clients are exempt: a browser
  never adds an Authorization header on its own.
- **Origin** (every unsafe request that names one): a browser's cross-site
  request names the other site, and is refused. This also covers requests
  with no session yet, such as a forged log-in into the attacker's account.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlsplit

from aiohttp import web

from seatserver.errors import CsrfFailed

CSRF_COOKIE = "seatserver_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LABEL = b"seatserver csrf v1"


def csrf_token(session_token: str) -> str:
    digest = hmac.new(session_token.encode(), _LABEL, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def origin_allowed(origin: str, host: str, allowed: tuple[str, ...]) -> bool:
    """An ``Origin`` in the configured list, or (none configured) our own host."""
    if origin.rstrip("/") in allowed:
        return True
    return not allowed and urlsplit(origin).netloc == host


def check_origin(request: web.Request, allowed: tuple[str, ...]) -> None:
    origin = request.headers.get("Origin")
    if origin is not None and not origin_allowed(origin, request.host, allowed):
        raise CsrfFailed(f"requests from {origin[:100]} are not accepted")


def check_token(request: web.Request, session_token: str) -> None:
    sent = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), csrf_token(session_token).encode()):
        raise CsrfFailed(f"a change made with the session cookie needs the {CSRF_HEADER} "
                         f"header (the value of the {CSRF_COOKIE} cookie)")
