"""Sessions and accounts over HTTP: guest sessions, sign-up, log-in and out,
the caller's profile, e-mail confirmation and password reset.

A browser gets its session as cookies (set here, see ``SessionCookies``); a
non-browser client asks for ``"bearer": true`` and gets the token in the
answer instead. The caller's order history is ``GET /api/bookings``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from seatserver.accounts.auth import Authenticator, CodeNeeded, SignedIn
from seatserver.accounts.cookies import SessionCookies
from seatserver.accounts.forms import (
    LogIn,
    LogInCode,
    NewPassword,
    ProfileUpdate,
    Registration,
    ResetRequest,
    TokenForm,
)
from seatserver.accounts.proxies import TrustedProxies
from seatserver.accounts.rbac import caller_of, identity_of
from seatserver.accounts.sessions import SessionStore
from seatserver.accounts.store import Account, AccountStore, NewAccount
from seatserver.accounts.throttle import Throttle
from seatserver.errors import InvalidInput, NotFound, Unauthorized
from seatserver.http.bodies import read_body
from seatserver.http.openapi import describe
from seatserver.http.responses import NO_STORE, json_response
from seatserver.http.roles import ACCOUNTS, SIGNED_IN, Role, allow, before_mfa


def _private(body: object, status: int = 200) -> web.Response:
    """An answer about the caller's own session or account: no cache keeps it."""
    return json_response(body, status, headers=NO_STORE)


def public(account: Account, *, email_pending: str | None = None) -> dict[str, Any]:
    return {"id": account.id, "kind": account.kind, "email": account.email,
            "email_verified": account.email_verified, "email_pending": email_pending,
            "name": account.name, "phone": account.phone,
            "created_at": account.created_at, "orders": "/api/bookings"}


class SessionHandlers:
    """Guest sessions. ``per_address`` (None: no limit) bounds how many one
    client address opens: each is a holder of its own, with its own seat
    limit, and a row in the database."""

    def __init__(self, store: SessionStore, cookies: SessionCookies, proxies: TrustedProxies,
                 per_address: Throttle | None) -> None:
        self._store = store
        self._cookies = cookies
        self._proxies = proxies
        self._per_address = per_address

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/api/sessions", self.create_session)]

    @allow(Role.ANONYMOUS)
    @describe("A new guest session: the token, and the session cookie.", status=201,
              errors=[429])
    async def create_session(self, request: web.Request) -> web.Response:
        if self._per_address is not None:
            await self._per_address.hit(
                self._proxies.client_subject(request),
                f"at most {self._per_address.limit} new sessions a minute from one "
                "address; try again shortly")
        session = await self._store.create_guest()
        body = {"token": session.token, "user_id": session.user_id,
                "expires_at": session.expires_at}
        response = _private(body, 201)
        self._cookies.set(request, response, session.token)
        return response


class AccountHandlers:
    def __init__(self, auth: Authenticator, accounts: AccountStore, sessions: SessionStore,
                 cookies: SessionCookies, proxies: TrustedProxies) -> None:
        self._auth = auth
        self._accounts = accounts
        self._sessions = sessions
        self._cookies = cookies
        self._proxies = proxies

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/auth/register", self.register),
            web.post("/api/auth/login", self.log_in),
            web.post("/api/auth/login/code", self.log_in_code),
            web.post("/api/auth/logout", self.log_out),
            web.get("/api/me", self.me),
            web.patch("/api/me", self.update_me),
            web.post("/api/auth/email/confirm", self.confirm_email),
            web.post("/api/auth/password-reset", self.request_reset),
            web.post("/api/auth/password-reset/confirm", self.reset_password),
        ]

    def _signed_in(self, request: web.Request, done: SignedIn, *, bearer: bool,
                   status: int) -> web.Response:
        body: dict[str, Any] = {
            "user": public(done.account), "expires_at": done.session.expires_at,
            "linked": {"bookings": done.linked_bookings, "seats": done.linked_seats}}
        if bearer:
            body["token"] = done.session.token
        response = _private(body, status)
        if not bearer:
            self._cookies.set(request, response, done.session.token)
        return response

    # Open to anyone; a guest's session is resolved so that it can be linked.
    @allow(Role.ANONYMOUS, *SIGNED_IN)
    @describe("Sign up; a guest caller's holds and bookings come along.",
              body=Registration, status=201, errors=[409, 429])
    async def register(self, request: web.Request) -> web.Response:
        form = await read_body(request, Registration)
        done = await self._auth.register(
            NewAccount(form.email, "", form.name, form.phone), password=form.password,
            caller=caller_of(request), address=self._proxies.client_address(request))
        return self._signed_in(request, done, bearer=form.bearer, status=201)

    @allow(Role.ANONYMOUS, *SIGNED_IN)
    @describe("Log in (a guest caller's holds and bookings come along). An account "
              "with two-factor authentication gets 202 and a challenge instead of a "
              "session: send it with a code to POST /api/auth/login/code.",
              body=LogIn, errors=[401, 429], also={202: "A code is needed."})
    async def log_in(self, request: web.Request) -> web.Response:
        form = await read_body(request, LogIn)
        done = await self._auth.log_in(form.email, form.password, caller=caller_of(request),
                                       address=self._proxies.client_address(request))
        if isinstance(done, CodeNeeded):
            return _private({"mfa": "code_required", "challenge": done.challenge,
                             "expires_in_s": done.expires_in_s}, 202)
        return self._signed_in(request, done, bearer=form.bearer, status=200)

    @allow(Role.ANONYMOUS, *SIGNED_IN)
    @describe("The log-in's second step: the challenge of POST /api/auth/login and a "
              "two-factor code or a recovery code; answers like a log-in.",
              body=LogInCode, errors=[401, 429])
    async def log_in_code(self, request: web.Request) -> web.Response:
        form = await read_body(request, LogInCode)
        done = await self._auth.log_in_with_code(
            form.challenge, form.code, caller=caller_of(request),
            address=self._proxies.client_address(request))
        return self._signed_in(request, done, bearer=form.bearer, status=200)

    @allow(*SIGNED_IN)
    @before_mfa
    @describe("End the session.", status=204)
    async def log_out(self, request: web.Request) -> web.Response:
        caller = caller_of(request)
        if caller is None:
            raise Unauthorized("not logged in")
        await self._sessions.close(caller.token)
        response = web.Response(status=204, headers=NO_STORE)
        self._cookies.clear(request, response)
        return response

    @allow(*SIGNED_IN)
    @before_mfa
    @describe("The caller's account.", errors=[404])
    async def me(self, request: web.Request) -> web.Response:
        identity = identity_of(request)
        account = await self._accounts.get(identity.user_id)
        if account is None:
            raise NotFound("this account no longer exists")
        pending = await self._accounts.pending_email(account.id) if account.email else None
        return _private(public(account, email_pending=pending))

    @allow(*ACCOUNTS)
    @describe("Change name, phone or e-mail (confirmed from a link first; a new "
              "address needs current_password, and the answer is the same whether "
              "or not another account has it).",
              body=ProfileUpdate, errors=[401, 404, 429])
    async def update_me(self, request: web.Request) -> web.Response:
        identity = identity_of(request)
        form = await read_body(request, ProfileUpdate)
        current = await self._accounts.get(identity.user_id)
        if current is None:
            raise NotFound("this account no longer exists")
        # The address first: if it is refused, nothing else has changed either.
        if form.email is not None:
            same = form.email.lower() == (current.email or "").lower()
            if same and current.email_verified:
                # Back to the address it has: a pending change is called off.
                await self._accounts.cancel_email_change(identity.user_id)
            elif form.current_password is None:
                raise InvalidInput("current_password: needed to change the e-mail address")
            else:
                # A new address, or the unconfirmed one again: (re)send the link.
                await self._auth.change_email(
                    current, form.email, form.current_password,
                    address=self._proxies.client_address(request))
        changes: dict[str, str | None] = {
            field: getattr(form, field) for field in ("name", "phone")
            if field in form.model_fields_set}
        account = await self._accounts.update_profile(identity.user_id, changes)
        pending = await self._accounts.pending_email(identity.user_id)
        return _private(public(account, email_pending=pending))

    @allow(Role.ANONYMOUS)
    @describe("Confirm an e-mail address with the token of its link.",
              body=TokenForm)
    async def confirm_email(self, request: web.Request) -> web.Response:
        form = await read_body(request, TokenForm)
        account = await self._accounts.confirm_email(form.token)
        return _private({"email": account.email, "email_verified": account.email_verified})

    @allow(Role.ANONYMOUS)
    @describe("Send a password-reset link (the same answer for any address).",
              body=ResetRequest, status=202, errors=[429])
    async def request_reset(self, request: web.Request) -> web.Response:
        form = await read_body(request, ResetRequest)
        await self._auth.request_reset(form.email,
                                       address=self._proxies.client_address(request))
        # The same answer whether or not the address is an account's.
        return _private({"sent": "if an account uses this address, a reset link is on its way"},
                     202)

    @allow(Role.ANONYMOUS)
    @describe("Set a new password with the token of a reset link.",
              body=NewPassword, status=204)
    async def reset_password(self, request: web.Request) -> web.Response:
        form = await read_body(request, NewPassword)
        await self._auth.reset_password(form.token, form.password,
                                        address=self._proxies.client_address(request))
        return web.Response(status=204, headers=NO_STORE)
