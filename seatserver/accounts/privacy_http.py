"""Data rights over HTTP: ``GET /api/me/export``, ``DELETE /api/me`` and the
admin's ``POST /api/admin/users/{id}/erase`` (see ``accounts.privacy``).

The export needs a full session (a staff session that has proved its code)
but no password: it only shows the caller what the caller could read anyway,
and it is rate-limited per account. Erasure takes the password again (and a
two-factor code when the account has two-factor authentication), because a
session left open must not be enough to destroy an account. An erased
account's seat holds are released at once; its sessions are gone with it.
"""

from __future__ import annotations

import logging
from typing import Annotated

from aiohttp import web
from pydantic import Field, StrictStr

from seatserver.accounts.auth import Authenticator
from seatserver.accounts.cookies import SessionCookies
from seatserver.accounts.forms import Password, _Form
from seatserver.accounts.linking import release_holds
from seatserver.accounts.mfa import MfaStore, MfaVerifier
from seatserver.accounts.privacy import Erased, PrivacyStore
from seatserver.accounts.proxies import TrustedProxies
from seatserver.accounts.rbac import caller_of, identity_of, require_recent_code
from seatserver.accounts.store import AccountStore
from seatserver.accounts.throttle import Throttle
from seatserver.audit import Actor
from seatserver.errors import InvalidCredentials, InvalidInput, NotFound
from seatserver.holds import HoldEngine
from seatserver.http.bodies import read_body
from seatserver.http.openapi import describe
from seatserver.http.params import path_number
from seatserver.http.responses import NO_STORE, json_response
from seatserver.http.roles import ACCOUNTS, SIGNED_IN, Role, allow

log = logging.getLogger(__name__)


def _reason(value: str) -> str:
    value = " ".join(value.split())
    if not value or not value.isprintable():
        raise ValueError("must be printable text, not blank")
    return value


class Erasure(_Form):
    password: Annotated[Password, Field(max_length=1024)]
    # Needed (and only accepted) when the account has two-factor authentication.
    code: Annotated[StrictStr, Field(min_length=1, max_length=32)] | None = None


class AdminErasure(_Form):
    # Why the admin erases the account (the request it answers): audited.
    reason: Annotated[StrictStr, Field(min_length=1, max_length=500)]

    def cleaned(self) -> str:
        try:
            return _reason(self.reason)
        except ValueError as exc:
            raise InvalidInput(f"reason: {exc}") from None


def _erased(done: Erased) -> dict[str, int]:
    return {"user_id": done.user_id, "bookings_anonymised": done.bookings_anonymised,
            "reviews_removed": done.reviews_removed}


class PrivacyHandlers:
    def __init__(self, privacy: PrivacyStore, accounts: AccountStore, auth: Authenticator,
                 mfa: tuple[MfaStore, MfaVerifier], engine: HoldEngine,
                 exports: Throttle, cookies: SessionCookies,
                 proxies: TrustedProxies) -> None:
        self._privacy = privacy
        self._accounts = accounts
        self._auth = auth
        self._mfa, self._verifier = mfa
        self._engine = engine
        self._exports = exports
        self._cookies = cookies
        self._proxies = proxies

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/me/export", self.export),
            web.delete("/api/me", self.erase_me),
            web.post("/api/admin/users/{id}/erase", self.erase_user),
        ]

    @allow(*SIGNED_IN)
    @describe("Everything the server holds about the caller, as JSON (a guest: its "
              "session's bookings). Rate-limited per account.", errors=[404, 429])
    async def export(self, request: web.Request) -> web.Response:
        identity = identity_of(request)
        await self._exports.hit(str(identity.user_id),
                                f"at most {self._exports.limit} exports an hour; "
                                "try again later")
        caller = caller_of(request)
        body = await self._privacy.export(identity.user_id,
                                          session=caller.token if caller else None)
        response = json_response(body, headers=NO_STORE)
        response.headers["Content-Disposition"] = (
            f'attachment; filename="seatserver-export-{identity.user_id}.json"')
        return response

    @allow(*ACCOUNTS)
    @describe("Erase the caller's account: needs the password (and a two-factor code "
              "when the account has one). Bookings and payments are kept without name, "
              "e-mail or phone; reviews are removed; held seats are released.",
              body=Erasure, errors=[401, 404, 409, 429])
    async def erase_me(self, request: web.Request) -> web.Response:
        identity = identity_of(request)
        form = await read_body(request, Erasure)
        address = self._proxies.client_address(request)
        account = await self._accounts.get(identity.user_id)
        if account is None or account.email is None:
            raise NotFound("this account no longer exists")
        await self._auth.check_password(account.email, form.password, address=address)
        if (await self._mfa.status(identity.user_id)).enrolled:
            if form.code is None:
                raise InvalidCredentials("code: this account needs a two-factor code "
                                         "to be erased")
            await self._verifier.verify(identity.user_id, form.code, remote=address)
        done = await self._privacy.erase(identity.user_id,
                                         actor=Actor.user(identity.user_id, address),
                                         reason=None, staff_allowed=True)
        await self._release(identity.user_id)
        response = json_response(_erased(done), headers=NO_STORE)
        self._cookies.clear(request, response)
        return response

    @allow(Role.ADMIN)
    @describe("Erase a customer's or guest's account on their request, as DELETE "
              "/api/me would (audited with the reason; needs a recent code). Staff "
              "accounts are refused: take the staff role away first.",
              body=AdminErasure, errors=[403, 404, 409])
    async def erase_user(self, request: web.Request) -> web.Response:
        user_id = path_number(request.match_info["id"], "user")
        form = await read_body(request, AdminErasure)
        reason = form.cleaned()
        require_recent_code(request, "erasing an account")
        actor = Actor.user(identity_of(request).user_id,
                           self._proxies.client_address(request))
        done = await self._privacy.erase(user_id, actor=actor, reason=reason,
                                         staff_allowed=False)
        await self._release(user_id)
        return json_response(_erased(done), headers=NO_STORE)

    async def _release(self, user_id: int) -> None:
        """Free the erased account's held seats; they would expire anyway, so a
        failure here is logged, never the answer to an erasure that happened."""
        try:
            released = await release_holds(self._engine, user_id)
        except Exception as exc:  # the erasure stands, whatever happens here
            log.warning("releasing the holds of erased account %s failed (%s); they expire "
                        "on their own", user_id, exc)
            return
        if released:
            log.info("released %d held seats of erased account %s", released, user_id)
