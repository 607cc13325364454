"""Who may call which route: declared next to each handler (``http.roles``),
checked here, in one place.

Every handler says who may call it with ``@allow(Role...)``. ``RoleGate``'s
middleware resolves the caller's session once per request, answers 401
``unauthorized`` when a session is needed and missing and 403 ``forbidden``
for a role not allowed, applies the CSRF checks, and leaves the caller for
the handler under ``CALLER``. A session of a role in ``MFA_ROLES`` that has
not proved a two-factor code reaches only routes open to anyone and those
marked ``@before_mfa``: elsewhere it gets 403 ``mfa_enrolment_required`` (no
second factor set up yet) or ``mfa_required``. It runs ``check_declared`` first at start-up.
The roles and ``@allow`` live at the edge, in ``http.roles``, so that the
routes of every feature (and the OpenAPI document) can declare them without
importing accounts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from aiohttp import web
from aiohttp.typedefs import Handler

from seatserver.accounts import csrf
from seatserver.accounts.cookies import SessionCookies
from seatserver.accounts.csrf import CSRF_HEADER
from seatserver.accounts.sessions import SESSION_COOKIE, Identity, SessionStore
from seatserver.errors import (
    Forbidden,
    MfaEnrolmentRequired,
    MfaRequired,
    ReauthRequired,
    Unauthorized,
)
from seatserver.http.roles import (
    MFA_ROLES,
    Role,
    check_declared,
    declared_roles,
    open_before_mfa,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Caller:
    """A request's resolved session: who, with which token, carried how."""

    identity: Identity
    token: str
    via: Literal["cookie", "bearer"]

    @property
    def role(self) -> Role:
        return Role(self.identity.kind)


CALLER: web.RequestKey[Caller | None] = web.RequestKey("caller")
# How recently a session must have proved a code for a sensitive change.
REAUTH_WITHIN = timedelta(minutes=5)


def caller_of(request: web.Request) -> Caller | None:
    try:
        return request[CALLER]
    except KeyError:
        return None


def identity_of(request: web.Request) -> Identity:
    """The caller's identity; ``unauthorized`` on a route open to anonymous callers."""
    caller = caller_of(request)
    if caller is None:
        raise Unauthorized("a session is needed: POST /api/sessions or log in first")
    return caller.identity


def require_recent_code(request: web.Request, why: str) -> None:
    """Refuse (403 ``reauth_required``) unless the caller's session proved a
    two-factor code within ``REAUTH_WITHIN``: a session left open is not
    enough for ``why``. The client asks for a code, sends it to
    ``POST /api/auth/mfa/verify`` and tries again."""
    proved = identity_of(request).mfa_at
    if proved is None or datetime.now(UTC) - proved > REAUTH_WITHIN:
        raise ReauthRequired(f"{why} needs a two-factor code from the last five minutes: "
                             "confirm with a code and try again")


async def _check_on_startup(app: web.Application) -> None:
    check_declared(app)  # the router is frozen by now: nothing can be added after


def token_of(request: web.Request) -> tuple[str, Literal["cookie", "bearer"]] | None:
    """The session token a request carries; a Bearer header wins over the cookie."""
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip(), "bearer"
    cookie = request.cookies.get(SESSION_COOKIE)
    return (cookie, "cookie") if cookie else None


# How a caller proves a session, for the OpenAPI document (``http.openapi``
# names them "session", "csrf" and "bearer").
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
                "description": "The browser's session cookie."},
    "csrf": {"type": "apiKey", "in": "header", "name": CSRF_HEADER,
             "description": "With the cookie on a change: the value of the CSRF cookie."},
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "A session token (POST /api/sessions, or log in with "
                              "bearer: true)."},
}


class RoleGate:
    """The one middleware that enforces every route's declaration."""

    def __init__(self, sessions: SessionStore, cookies: SessionCookies,
                 allowed_origins: tuple[str, ...]) -> None:
        self._sessions = sessions
        self._cookies = cookies
        self._origins = allowed_origins

    def install(self, app: web.Application) -> None:
        app.middlewares.append(self.middleware)
        # First of all start-up steps: refuse before any service is started.
        app.on_startup.insert(0, _check_on_startup)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        match = request.match_info
        if match.http_exception is not None:
            return await handler(request)  # no route: 404 or 405, nothing to guard
        roles = declared_roles(match.handler)
        if roles is None:  # check_declared makes this unreachable; fail closed anyway
            log.error("%s %s has no role declaration", request.method, request.path)
            raise Forbidden("this route declares no roles")
        unsafe = request.method not in csrf.SAFE_METHODS
        if unsafe:
            csrf.check_origin(request, self._origins)
        caller = None if roles == {Role.ANONYMOUS} else await self._resolve(request)
        self._authorize(roles, caller)
        if (caller is not None and Role.ANONYMOUS not in roles
                and caller.role in MFA_ROLES and caller.identity.mfa_at is None
                and not open_before_mfa(match.handler)):
            await self._refuse_before_mfa(caller)
        if unsafe and caller is not None and caller.via == "cookie":
            csrf.check_token(request, caller.token)
        request[CALLER] = caller
        response = await handler(request)
        if caller is not None and caller.via == "cookie" and not response.prepared:
            self._refresh_csrf(request, response, caller.token)
        return response

    async def _resolve(self, request: web.Request) -> Caller | None:
        carried = token_of(request)
        if carried is None:
            return None
        token, via = carried
        identity = await self._sessions.resolve(token)
        return None if identity is None else Caller(identity, token, via)

    async def _refuse_before_mfa(self, caller: Caller) -> None:
        if await self._sessions.mfa_enrolled(caller.identity.user_id):
            raise MfaRequired("confirm this session with a two-factor code first "
                              "(POST /api/auth/mfa/verify)")
        raise MfaEnrolmentRequired("set up two-factor authentication first "
                                   "(POST /api/auth/mfa/enrolment)")

    @staticmethod
    def _authorize(roles: frozenset[Role], caller: Caller | None) -> None:
        if Role.ANONYMOUS in roles:
            return
        if caller is None:
            raise Unauthorized("a session is needed: POST /api/sessions or log in first")
        if caller.role not in roles:
            raise Forbidden(f"a {caller.role.value} session may not do this")

    def _refresh_csrf(self, request: web.Request, response: web.StreamResponse,
                      token: str) -> None:
        """Give a session that predates its CSRF cookie (or lost it) the cookie
        again, so its pages can keep making changes. A handler that changed
        the session (log-in, log-out) has set its own cookies already."""
        if csrf.CSRF_COOKIE in response.cookies:
            return
        if request.cookies.get(csrf.CSRF_COOKIE) != csrf.csrf_token(token):
            self._cookies.set_csrf(request, response, token)
