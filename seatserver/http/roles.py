"""Who may call a route, declared next to its handler: ``@allow(Role...)``.

The declaration is read by ``accounts.rbac.RoleGate``, which enforces it for
every request, and by ``http.openapi``, which documents it. ``check_declared``
refuses to start an app with a route that declares nothing: forgetting is a
start-up error, never an open door.

``Role.ANONYMOUS`` means "no session needed": such a route is open to
everyone. Listed alone, the session is not even looked up (pages, static
files, health); listed with other roles, a caller's session is resolved when
there is one, so the handler can use it (log-in links a guest's holds).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web


class Role(enum.Enum):
    ANONYMOUS = "anonymous"
    GUEST = "guest"
    CUSTOMER = "customer"
    KIOSK = "kiosk"
    ADMIN = "admin"
    # Sells at the counter (cash, card present) and releases house seats.
    BOX_OFFICE = "box_office"


# Any session at all: the WebSocket, "me", log-out.
SIGNED_IN = (Role.GUEST, Role.CUSTOMER, Role.KIOSK, Role.ADMIN, Role.BOX_OFFICE)
# Sessions of someone with an e-mail and a password.
ACCOUNTS = (Role.CUSTOMER, Role.KIOSK, Role.ADMIN, Role.BOX_OFFICE)
# Who buys seats; a kiosk board only watches.
BUYERS = (Role.GUEST, Role.CUSTOMER, Role.ADMIN)

# Staff roles whose sessions must prove a two-factor code before they reach
# anything but the routes marked ``@before_mfa`` (see accounts.rbac). A kiosk
# board is a machine left logged in at a door: it has no one to type a code.
# The box office takes money at a counter: a stolen password must not do that.
MFA_ROLES = (Role.ADMIN, Role.BOX_OFFICE)

_ROLES_ATTRIBUTE = "__seatserver_roles__"
_BEFORE_MFA_ATTRIBUTE = "__seatserver_before_mfa__"
H = TypeVar("H", bound=Callable[..., Awaitable[web.StreamResponse]])


def allow(*roles: Role) -> Callable[[H], H]:
    """Declare the roles that may call the decorated handler."""
    if not roles:
        raise ValueError("allow() needs at least one role")

    def declare(handler: H) -> H:
        setattr(handler, _ROLES_ATTRIBUTE, frozenset(roles))
        return handler

    return declare


def before_mfa(handler: H) -> H:
    """Mark a route a staff session may call before it has proved a
    two-factor code: its profile, log-out, and enrolment itself."""
    setattr(handler, _BEFORE_MFA_ATTRIBUTE, True)
    return handler


def open_before_mfa(handler: object) -> bool:
    return bool(getattr(handler, _BEFORE_MFA_ATTRIBUTE, False))


def declared_roles(handler: object) -> frozenset[Role] | None:
    roles: frozenset[Role] | None = getattr(handler, _ROLES_ATTRIBUTE, None)
    return roles


class UndeclaredRoute(RuntimeError):
    """A route whose handler has no ``@allow``: the app refuses to start."""


def check_declared(app: web.Application) -> None:
    missing = sorted({
        f"{route.method} {route.resource.canonical if route.resource else '?'}"
        for route in app.router.routes() if declared_roles(route.handler) is None})
    if missing:
        raise UndeclaredRoute("routes without an @allow(...) declaration of who may call "
                              f"them: {', '.join(missing)}")
