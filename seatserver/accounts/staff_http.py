"""Staff management for admins: ``/api/admin/staff``.

Every change takes a two-factor code from the last five minutes
(``reauth_required`` otherwise) and is audited with the admin who made it.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field, StrictBool

from seatserver.accounts.forms import Email, Name, _Form
from seatserver.accounts.mfa import MfaStore
from seatserver.accounts.proxies import TrustedProxies
from seatserver.accounts.rbac import identity_of, require_recent_code
from seatserver.accounts.staff import StaffStore
from seatserver.audit import Actor
from seatserver.errors import InvalidInput
from seatserver.http.bodies import read_body
from seatserver.http.openapi import describe
from seatserver.http.params import path_id
from seatserver.http.responses import NO_STORE, json_response
from seatserver.http.roles import Role, allow


class StaffInvite(_Form):
    email: Email
    name: Name | None = None
    kind: Literal["admin", "kiosk", "box_office"]


class StaffChange(_Form):
    """Fields left out stay as they are. ``customer`` takes the staff role away."""

    kind: Annotated[Literal["admin", "kiosk", "box_office", "customer"] | None, Field()] = None
    disabled: StrictBool | None = None


class StaffHandlers:
    def __init__(self, staff: StaffStore, mfa: MfaStore, proxies: TrustedProxies) -> None:
        self._staff = staff
        self._mfa = mfa
        self._proxies = proxies

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/admin/staff", self.list),
            web.post("/api/admin/staff", self.invite),
            web.patch("/api/admin/staff/{id}", self.change),
            web.post("/api/admin/staff/{id}/mfa-reset", self.reset_mfa),
        ]

    def _actor(self, request: web.Request) -> Actor:
        return Actor.user(identity_of(request).user_id, self._proxies.client_address(request))

    @allow(Role.ADMIN)
    @describe("Staff accounts (admins, box office, kiosk boards), disabled ones too.")
    async def list(self, request: web.Request) -> web.Response:
        members = await self._staff.list()
        return json_response({"staff": [asdict(m) for m in members]}, headers=NO_STORE)

    @allow(Role.ADMIN)
    @describe("Invite a staff member: the account, and a link to set its password "
              "(audited; needs a recent code).", body=StaffInvite, status=201,
              errors=[409])
    async def invite(self, request: web.Request) -> web.Response:
        form = await read_body(request, StaffInvite)
        require_recent_code(request, "inviting staff")
        member = await self._staff.invite(form.email, form.name, form.kind,
                                          actor=self._actor(request))
        return json_response(asdict(member), 201, headers=NO_STORE)

    @allow(Role.ADMIN)
    @describe("Change a staff member's role or disable them (audited; needs a recent "
              "code; never the last admin, never one's own admin role).",
              body=StaffChange, errors=[404, 409])
    async def change(self, request: web.Request) -> web.Response:
        user_id = path_id(request)
        form = await read_body(request, StaffChange)
        if form.kind is None and form.disabled is None:
            raise InvalidInput("kind or disabled: give at least one")
        require_recent_code(request, "changing a role")
        member = await self._staff.change(user_id, kind=form.kind, disabled=form.disabled,
                                          actor=self._actor(request),
                                          actor_id=identity_of(request).user_id)
        return json_response(asdict(member), headers=NO_STORE)

    @allow(Role.ADMIN)
    @describe("Reset a staff member's two-factor authentication: their sessions end "
              "and their next log-in enrols again (audited; needs a recent code).",
              status=204, errors=[404])
    async def reset_mfa(self, request: web.Request) -> web.Response:
        user_id = path_id(request)
        require_recent_code(request, "resetting two-factor authentication")
        await self._mfa.reset(user_id, actor=self._actor(request))
        return web.Response(status=204, headers=NO_STORE)
