"""Two-factor authentication over HTTP: the caller's status, enrolment, and
confirming a session (after log-in elsewhere, or before a sensitive change).

The log-in's second step, ``POST /api/auth/login/code``, is with the other
log-in routes (``accounts.http``).
"""

from __future__ import annotations

import segno
from aiohttp import web

from seatserver.accounts import totp
from seatserver.accounts.forms import CodeForm
from seatserver.accounts.mfa import Enrolment, MfaStore, MfaVerifier
from seatserver.accounts.proxies import TrustedProxies
from seatserver.accounts.rbac import REAUTH_WITHIN, caller_of
from seatserver.accounts.store import AccountStore
from seatserver.errors import NotFound, Unauthorized
from seatserver.http.bodies import read_body
from seatserver.http.openapi import describe
from seatserver.http.responses import NO_STORE, json_response
from seatserver.http.roles import ACCOUNTS, MFA_ROLES, allow, before_mfa

ISSUER = "seatserver"


def _private(body: object, status: int = 200) -> web.Response:
    return json_response(body, status, headers=NO_STORE)


def qr_svg(uri: str) -> str:
    """The provisioning URI as an inline SVG element (no XML declaration)."""
    return segno.make_qr(uri, error="m").svg_inline(scale=4, dark="#000", light="#fff")


class MfaHandlers:
    def __init__(self, store: MfaStore, verifier: MfaVerifier, accounts: AccountStore,
                 proxies: TrustedProxies) -> None:
        self._store = store
        self._verifier = verifier
        self._accounts = accounts
        self._proxies = proxies

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/auth/mfa", self.status),
            web.post("/api/auth/mfa/enrolment", self.start),
            web.post("/api/auth/mfa/enrolment/confirm", self.confirm),
            web.post("/api/auth/mfa/verify", self.verify),
        ]

    @staticmethod
    def _session(request: web.Request) -> tuple[int, str]:
        caller = caller_of(request)
        if caller is None:
            raise Unauthorized("log in first")
        return caller.identity.user_id, caller.token

    @allow(*ACCOUNTS)
    @before_mfa
    @describe("The caller's two-factor status: required, set up, proved by this "
              "session when, recovery codes left.")
    async def status(self, request: web.Request) -> web.Response:
        caller = caller_of(request)
        assert caller is not None
        found = await self._store.status(caller.identity.user_id)
        return _private({
            "required": caller.role in MFA_ROLES, "enrolled": found.enrolled,
            "verified_at": caller.identity.mfa_at,
            "reauth_within_s": int(REAUTH_WITHIN.total_seconds()),
            "recovery_codes_left": found.recovery_codes_left})

    @allow(*MFA_ROLES)
    @before_mfa
    @describe("Start setting up two-factor authentication: a new secret, as text, "
              "as an otpauth URI and as a QR code (SVG). Confirm it with a first code.",
              status=201, errors=[409])
    async def start(self, request: web.Request) -> web.Response:
        user_id, _ = self._session(request)
        account = await self._accounts.get(user_id)
        if account is None or account.email is None:
            raise NotFound("this account no longer exists")
        secret = await self._store.start(user_id)
        enrolment = Enrolment(secret, totp.provisioning_uri(secret, account=account.email,
                                                            issuer=ISSUER))
        return _private({"secret": totp.secret_text(secret), "uri": enrolment.uri,
                         "qr_svg": qr_svg(enrolment.uri), "digits": totp.DIGITS,
                         "period": totp.STEP_S}, 201)

    @allow(*MFA_ROLES)
    @before_mfa
    @describe("Confirm the enrolment with a first code: the ten recovery codes, shown "
              "this once; the session counts as having proved a code.",
              body=CodeForm, errors=[401, 404, 429])
    async def confirm(self, request: web.Request) -> web.Response:
        user_id, token = self._session(request)
        form = await read_body(request, CodeForm)
        codes = await self._verifier.confirm(user_id, form.code, session=token,
                                             remote=self._proxies.client_address(request))
        return _private({"recovery_codes": codes})

    @allow(*MFA_ROLES)
    @before_mfa
    @describe("Prove a code (or a recovery code) in this session: before a sensitive "
              "change (reauth_required), or to confirm a session opened before the "
              "account enrolled (mfa_required).", body=CodeForm, errors=[401, 429])
    async def verify(self, request: web.Request) -> web.Response:
        user_id, token = self._session(request)
        form = await read_body(request, CodeForm)
        await self._verifier.verify(user_id, form.code,
                                    remote=self._proxies.client_address(request))
        at = await self._store.mark_verified(token)
        return _private({"verified_at": at})
