"""Roles: every route's declaration, what each role gets from it, and the
start-up check that refuses a route without one."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from seatserver.accounts.sessions import open_session
from seatserver.app import create_app
from seatserver.http.roles import (
    ACCOUNTS,
    BUYERS,
    SIGNED_IN,
    Role,
    UndeclaredRoute,
    allow,
    check_declared,
    declared_roles,
)
from seatserver.loadgen.client import SeatClient
from seatserver.settings import Settings
from tests.accounts.conftest import new_email
from tests.admin.test_catalog_api import ADMIN_ROUTES, BOOKING_ROUTES

ANONYMOUS = (Role.ANONYMOUS,)
OPEN_TO_SESSIONS = (Role.ANONYMOUS, *SIGNED_IN)

# Who may call what: the list to keep in step with the routes (a new route
# fails test_every_route_is_in_the_matrix until it is added here).
MATRIX: dict[tuple[str, str], tuple[Role, ...]] = {
    ("GET", "/ws"): SIGNED_IN,
    ("GET", "/healthz"): ANONYMOUS,
    ("GET", "/readyz"): ANONYMOUS,
    ("GET", "/metrics"): ANONYMOUS,
    ("POST", "/api/sessions"): ANONYMOUS,
    ("POST", "/api/auth/register"): OPEN_TO_SESSIONS,
    ("POST", "/api/auth/login"): OPEN_TO_SESSIONS,
    ("POST", "/api/auth/login/code"): OPEN_TO_SESSIONS,
    ("POST", "/api/auth/logout"): SIGNED_IN,
    ("GET", "/api/auth/mfa"): ACCOUNTS,
    ("POST", "/api/auth/mfa/enrolment"): (Role.ADMIN, Role.BOX_OFFICE),
    ("POST", "/api/auth/mfa/enrolment/confirm"): (Role.ADMIN, Role.BOX_OFFICE),
    ("POST", "/api/auth/mfa/verify"): (Role.ADMIN, Role.BOX_OFFICE),
    ("GET", "/api/admin/staff"): (Role.ADMIN,),
    ("POST", "/api/admin/staff"): (Role.ADMIN,),
    ("PATCH", "/api/admin/staff/{id}"): (Role.ADMIN,),
    ("POST", "/api/admin/staff/{id}/mfa-reset"): (Role.ADMIN,),
    ("GET", "/api/me"): SIGNED_IN,
    ("PATCH", "/api/me"): ACCOUNTS,
    ("DELETE", "/api/me"): ACCOUNTS,
    ("GET", "/api/me/export"): SIGNED_IN,
    ("POST", "/api/admin/users/{id}/erase"): (Role.ADMIN,),
    ("POST", "/api/auth/email/confirm"): ANONYMOUS,
    ("POST", "/api/auth/password-reset"): ANONYMOUS,
    ("POST", "/api/auth/password-reset/confirm"): ANONYMOUS,
    ("GET", "/api/showtimes"): ANONYMOUS,
    ("GET", "/api/showtimes/{id}"): ANONYMOUS,
    ("GET", "/api/showtimes/{id}/queue"): ANONYMOUS,
    **dict.fromkeys([(method, "/api/admin/showtimes/{id}/sale")
                     for method in ("GET", "PUT", "PATCH", "DELETE")], (Role.ADMIN,)),
    ("GET", "/api/catalog/showtimes"): ANONYMOUS,
    ("GET", "/api/catalog/movies"): ANONYMOUS,
    ("GET", "/api/catalog/movies/{movie}"): ANONYMOUS,
    ("POST", "/api/showtimes/{id}/bookings"): BUYERS,
    ("GET", "/api/bookings"): BUYERS,
    ("GET", "/api/bookings/{ref}"): BUYERS,
    ("GET", "/api/bookings/{ref}/ticket.svg"): BUYERS,
    ("GET", "/api/bookings/{ref}/ticket.png"): BUYERS,
    ("POST", "/api/bookings/{ref}/cancel"): BUYERS,
    ("GET", "/api/payments/{provider}/return"): ANONYMOUS,
    ("POST", "/api/payments/{provider}/webhook"): ANONYMOUS,
    ("POST", "/api/tickets/verify"): (Role.KIOSK, Role.ADMIN),
    ("POST", "/api/tickets/admit"): (Role.KIOSK, Role.ADMIN),
    ("GET", "/bookings/{ref}"): (Role.ANONYMOUS, *BUYERS),
    # The ticket link is the credential: no session needed, none looked up.
    ("GET", "/tickets/{token}"): ANONYMOUS,
    ("GET", "/tickets/{token}/calendar.ics"): ANONYMOUS,
    ("GET", "/pay/{order}"): ANONYMOUS,
    ("POST", "/pay/{order}/{action}"): ANONYMOUS,
    ("GET", "/"): ANONYMOUS,
    ("GET", "/showtimes/{id}"): ANONYMOUS,
    ("GET", "/films/{id}"): ANONYMOUS,
    ("GET", "/kiosk"): ANONYMOUS,
    ("GET", "/account"): ANONYMOUS,
    ("GET", "/admin"): ANONYMOUS,
    ("GET", "/static/{version}/{path}"): ANONYMOUS,
    ("GET", "/version"): ANONYMOUS,
    ("GET", "/api/openapi.json"): ANONYMOUS,
    ("GET", "/api/movies/{movie}/reviews"): ANONYMOUS,
    ("POST", "/api/movies/{movie}/reviews"): BUYERS,
    ("GET", "/api/movies/{movie}/reviews/mine"): BUYERS,
    ("PATCH", "/api/reviews/{review}"): BUYERS,
    ("GET", "/api/admin/reviews"): (Role.ADMIN,),
    ("PATCH", "/api/admin/reviews/{review}"): (Role.ADMIN,),
    ("GET", "/api/admin/sales/showtimes"): (Role.ADMIN,),
    ("GET", "/api/admin/sales/showtimes.csv"): (Role.ADMIN,),
    ("GET", "/api/admin/sales/daily"): (Role.ADMIN,),
    ("GET", "/api/admin/sales/bookings.csv"): (Role.ADMIN,),
    ("GET", "/api/admin/showtimes/{id}/seats/{seat}/history"): (Role.ADMIN,),
    ("POST", "/api/admin/movies/import"): (Role.ADMIN,),
    **dict.fromkeys([("GET", "/api/admin/webhooks"), ("POST", "/api/admin/webhooks"),
                     ("GET", "/api/admin/webhooks/{id}"), ("PATCH", "/api/admin/webhooks/{id}"),
                     ("DELETE", "/api/admin/webhooks/{id}"),
                     ("POST", "/api/admin/webhooks/{id}/rotate"),
                     ("GET", "/api/admin/webhooks/{id}/deliveries"),
                     ("POST", "/api/admin/webhooks/deliveries/{id}/resend")], (Role.ADMIN,)),
    ("GET", "/api/admin/showtimes/{id}/blocks"): (Role.ADMIN, Role.BOX_OFFICE),
    ("POST", "/api/admin/showtimes/{id}/blocks"): (Role.ADMIN,),
    ("POST", "/api/admin/showtimes/{id}/blocks/release"): (Role.ADMIN, Role.BOX_OFFICE),
    ("POST", "/api/counter/showtimes/{id}/sales"): (Role.BOX_OFFICE, Role.ADMIN),
    ("GET", "/counter"): ANONYMOUS,
    **dict.fromkeys(ADMIN_ROUTES + BOOKING_ROUTES, (Role.ADMIN,)),
}
# Ids of nothing: an admin's DELETE reaches its handler and finds nothing to
# delete. (Id 1 deleted the session database's first demo showtime, which
# browser tests run later in the same process then could not find.)
NOTHING = "987654321"
PATH_VALUES = {"id": NOTHING, "ref": "ABCDEFGHJK", "provider": "simulated",
               "order": "sim_none", "seat_type": "vip", "action": "pay",
               "version": "000000000000", "path": "x.js", "movie": NOTHING, "review": NOTHING,
               "token": "ABCDEFGHJK." + "0" * 32, "seat": "A1"}


def routes_of(app: web.Application) -> dict[tuple[str, str], Any]:
    return {(r.method, r.resource.canonical): r.handler for r in app.router.routes()
            if r.method != "HEAD" and r.resource is not None}


# What an admin session that has not proved a two-factor code may still call
# (besides routes open to anyone): the rest answer mfa_enrolment_required.
BEFORE_MFA = {("GET", "/api/me"), ("POST", "/api/auth/logout"), ("GET", "/api/auth/mfa"),
              ("POST", "/api/auth/mfa/enrolment"), ("POST", "/api/auth/mfa/enrolment/confirm"),
              ("POST", "/api/auth/mfa/verify")}


async def session_of(db_pool: asyncpg.Pool, role: Role, *, mfa: bool = True) -> str | None:
    """A fresh session of a new user of ``role`` (None: no session at all);
    ``mfa``: the session has proved a two-factor code."""
    if role is Role.ANONYMOUS:
        return None
    async with db_pool.acquire() as conn:
        if role is Role.GUEST:
            user_id = await conn.fetchval("INSERT INTO users (kind) VALUES ('guest') "
                                          "RETURNING id")
        else:
            user_id = await conn.fetchval(
                "INSERT INTO users (kind, email, password_hash) VALUES ($1, $2, $3) "
                "RETURNING id", role.value, new_email(), "$argon2id$not-a-real-hash")
        return (await open_session(conn, user_id, mfa=mfa)).token


async def test_every_route_is_in_the_matrix_with_the_roles_it_declares(
        server: TestServer) -> None:
    assert server.app is not None
    declared = {key: declared_roles(handler) for key, handler in routes_of(server.app).items()}

    assert set(declared) == set(MATRIX)
    assert {key: set(roles or ()) for key, roles in declared.items()} == \
        {key: set(roles) for key, roles in MATRIX.items()}


@pytest.mark.parametrize("role", list(Role))
async def test_each_role_gets_401_403_or_through_on_every_route(
        server: TestServer, db_pool: asyncpg.Pool, role: Role) -> None:
    """Refused callers get 401 (no session) or 403 (wrong role); allowed ones
    reach the handler, which may answer anything else (400 for an empty body,
    404 for a made-up reference...)."""
    base = str(server.make_url("/")).rstrip("/")
    outcome = {}
    async with aiohttp.ClientSession() as http:
        for (method, path), allowed in MATRIX.items():
            token = await session_of(db_pool, role)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            url = base + re.sub(r"{(\w+)}", lambda m: PATH_VALUES[m[1]], path)
            body = {} if method != "GET" else None
            async with http.request(method, url, json=body, headers=headers,
                                    allow_redirects=False) as resp:
                outcome[(method, path)] = resp.status
            expected_in = Role.ANONYMOUS in allowed or role in allowed
            status = outcome[(method, path)]
            if expected_in:
                assert status not in (401, 403), (method, path, role, status)
            else:
                assert status == (401 if role is Role.ANONYMOUS else 403), \
                    (method, path, role, status)


async def test_an_admin_session_without_a_code_reaches_only_enrolment_and_its_profile(
        server: TestServer, db_pool: asyncpg.Pool) -> None:
    base = str(server.make_url("/")).rstrip("/")
    reached, codes = set(), {}
    async with aiohttp.ClientSession() as http:
        for (method, path), allowed in MATRIX.items():
            if Role.ANONYMOUS in allowed or Role.ADMIN not in allowed:
                continue
            token = await session_of(db_pool, Role.ADMIN, mfa=False)
            url = base + re.sub(r"{(\w+)}", lambda m: PATH_VALUES[m[1]], path)
            async with http.request(method, url, json={} if method != "GET" else None,
                                    headers={"Authorization": f"Bearer {token}"},
                                    allow_redirects=False) as resp:
                if resp.status == 403:
                    codes[(method, path)] = (await resp.json())["error"]["code"]
                else:
                    reached.add((method, path))

    assert reached == BEFORE_MFA
    assert set(codes.values()) == {"mfa_enrolment_required"}


def test_an_undeclared_route_is_named_by_the_check() -> None:
    app = web.Application()

    @allow(Role.ANONYMOUS)
    async def declared(request: web.Request) -> web.Response:
        return web.Response()

    async def forgotten(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_get("/fine", declared)
    app.router.add_post("/api/forgotten", forgotten)

    with pytest.raises(UndeclaredRoute, match="POST /api/forgotten") as refused:
        check_declared(app)
    assert "/fine" not in str(refused.value)


async def test_the_server_refuses_to_start_with_an_undeclared_route(
        aiohttp_server: Any, settings: Settings) -> None:
    app = create_app(settings)

    async def forgotten(request: web.Request) -> web.Response:
        return web.Response(text="anyone may read this")

    app.router.add_get("/api/forgotten", forgotten)

    with pytest.raises(UndeclaredRoute, match="GET /api/forgotten"):
        await aiohttp_server(app)


async def test_a_kiosk_watches_but_cannot_hold_seats(
        server: TestServer, db_pool: asyncpg.Pool, demo: list[int]) -> None:
    token = await session_of(db_pool, Role.KIOSK)
    assert token is not None
    base = str(server.make_url("/")).rstrip("/")
    async with aiohttp.ClientSession() as http, SeatClient(http, base, token) as kiosk:
        subscribed = await kiosk.subscribe(demo[0])
        held = await kiosk.request("hold", showtime=demo[0], seats=["A1"])
        extended = await kiosk.request("extend", showtime=demo[0])

    assert subscribed["ok"] is True
    assert (held["ok"], held["code"]) == (False, "forbidden")
    assert (extended["ok"], extended["code"]) == (False, "forbidden")
