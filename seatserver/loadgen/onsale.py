"""The on-sale scenario's set-up: the showtimes' sale settings through the
admin API, and putting them back afterwards.

The load generator logs in as an admin the way any non-browser client does
(``POST /api/auth/login`` with ``"bearer": true``, docs/accounts.md), reads
each showtime's sale settings (an admin has two-factor authentication: the
log-in's code is computed from ``--admin-totp-secret``), sets its on-sale time
a few seconds ahead with the waiting room on, and at the end restores what it found: the showtime's
own settings with ``PUT``, or the deployment's defaults with ``DELETE``.
Every change is in the server's audit log as this admin's.

Without an admin password it changes nothing: the showtimes must already
have a waiting room (``GET /api/showtimes/{id}/queue`` says so), set up by
the operator.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from seatserver.accounts import totp
from seatserver.loadgen.options import LoadOptions
from seatserver.loadgen.seatmap import LoadgenError

TIMEOUT = aiohttp.ClientTimeout(total=15)
SALE_FIELDS = ("on_sale_at", "waiting_room", "admission_rate", "active_cap",
               "admission_ttl_s")


@dataclass
class Room:
    """A showtime's waiting room as the run found it and left it."""

    showtime: int
    waiting_room: bool
    on_sale_at: str | None
    before: dict[str, Any] | None = None  # the settings found, when we changed them
    restored: str = ""  # "", "yes", or why not


class SaleSetup:
    """Sets and restores the showtimes' sale settings for one run."""

    def __init__(self, http: aiohttp.ClientSession, options: LoadOptions) -> None:
        self._http = http
        self._o = options
        self._token: str | None = None
        self.rooms: dict[int, Room] = {}

    @property
    def restored_all(self) -> bool:
        """Nothing changed is left to put back (or the putting back was tried)."""
        return all(r.before is None or r.restored for r in self.rooms.values())

    @property
    def changes_settings(self) -> bool:
        return self._o.admin_password is not None

    async def prepare(self, showtimes: list[int], opens_at: float) -> None:
        """Waiting rooms on, opening at ``opens_at`` (wall clock s); or, without
        an admin, check that the showtimes have one."""
        if not self.changes_settings:
            for showtime in showtimes:
                status = await self._call("GET", f"/api/showtimes/{showtime}/queue")
                if not status.get("waiting_room"):
                    raise LoadgenError(
                        f"showtime {showtime} has no waiting room: --scenario onsale "
                        "sets one up with --admin-password, or turn it on first "
                        "(PUT /api/admin/showtimes/{id}/sale)")
                self.rooms[showtime] = Room(showtime, True, status.get("on_sale_at"))
            return
        await self._log_in()
        at = datetime.fromtimestamp(opens_at, UTC).isoformat(timespec="milliseconds")
        for showtime in showtimes:
            path = f"/api/admin/showtimes/{showtime}/sale"
            before = await self._call("GET", path)
            room = self.rooms[showtime] = Room(showtime, True, at, before)
            saved = await self._call("PUT", path, {
                "on_sale_at": at, "waiting_room": True,
                "admission_rate": self._o.admission_rate, "active_cap": self._o.active_cap,
                "admission_ttl_s": self._o.admission_ttl_s})
            room.on_sale_at = saved.get("on_sale_at")

    async def open_at(self, opens_at: float) -> None:
        """Move the opening of the rooms we set up to ``opens_at`` (wall clock
        s), live: buyers in the pre-queue stay there until then."""
        at = datetime.fromtimestamp(opens_at, UTC).isoformat(timespec="milliseconds")
        for room in self.rooms.values():
            if room.before is None:
                continue
            saved = await self._call("PATCH", f"/api/admin/showtimes/{room.showtime}/sale",
                                     {"on_sale_at": at})
            room.on_sale_at = saved.get("on_sale_at")

    async def restore(self) -> list[str]:
        """Put back the settings we changed; what could not be, and why."""
        problems = []
        for room in self.rooms.values():
            if room.before is None:
                continue
            path = f"/api/admin/showtimes/{room.showtime}/sale"
            try:
                if room.before.get("source") == "default":
                    await self._call("DELETE", path)
                else:
                    body = {k: room.before[k] for k in SALE_FIELDS}
                    if room.before.get("on_sale_source") == "default":
                        body["on_sale_at"] = None  # the default's, not pinned as its own
                    await self._call("PUT", path, body)
                room.restored = "yes"
            except (LoadgenError, aiohttp.ClientError, TimeoutError) as exc:
                room.restored = f"not restored: {exc}"
                problems.append(f"showtime {room.showtime}'s sale settings were not put "
                                f"back ({exc}); they were {room.before}")
        return problems

    async def _log_in(self) -> None:
        body = await self._call("POST", "/api/auth/login", {
            "email": self._o.admin_email, "password": self._o.admin_password,
            "bearer": True}, what="the admin log-in")
        if body.get("mfa") == "code_required":
            body = await self._call("POST", "/api/auth/login/code", {
                "challenge": body.get("challenge"), "code": self._code(), "bearer": True},
                what="the admin log-in's code")
        token = body.get("token")
        if not isinstance(token, str):
            raise LoadgenError("the admin log-in answered without a token")
        self._token = token

    def _code(self) -> str:
        text = (self._o.admin_totp_secret or "").replace(" ", "").upper()
        if not text:
            raise LoadgenError("the admin account has two-factor authentication: give its "
                               "key with --admin-totp-secret")
        try:
            secret = base64.b32decode(text + "=" * (-len(text) % 8))
        except ValueError as exc:
            raise LoadgenError(f"--admin-totp-secret is not base32: {exc}") from None
        try:
            return totp.totp(secret, time.time())
        except ValueError as exc:  # pyotp refuses a key under 112 bits
            raise LoadgenError(f"--admin-totp-secret is no TOTP key: {exc}") from None

    async def _call(self, method: str, path: str, body: Any = None, *,
                    what: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        url = self._o.url + path
        try:
            async with self._http.request(method, url, json=body, headers=headers,
                                          timeout=TIMEOUT) as resp:
                answer = await resp.json(content_type=None) if resp.content_length != 0 \
                    else {}
                if resp.status >= 400:
                    error = (answer or {}).get("error", {}) if isinstance(answer, dict) else {}
                    raise LoadgenError(
                        f"{what or method + ' ' + path} answered {resp.status} "
                        f"{error.get('code', '')}: {error.get('message', '')}".rstrip(": "))
                return answer if isinstance(answer, dict) else {}
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise LoadgenError(f"cannot reach {url}: {exc}") from exc
