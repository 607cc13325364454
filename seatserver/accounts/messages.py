"""The account messages the outbox sends: e-mail confirmation, password reset,
and the notice that another account tried to use one's address.

Links are absolute, made from the public origin (SEATSERVER_PUBLIC_URL), so
they work from any mail reader, like the booking confirmations'. The token is in the query of
the account page, which takes it out of the address bar as soon as it loads.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from seatserver.accounts.tokens import EMAIL_IN_USE_KIND, MESSAGE_KINDS
from seatserver.outbox.messages import Message
from seatserver.personal.keys import PersonalKeys
from seatserver.personal.rotation import OUTBOX_FIELD

KINDS = (*MESSAGE_KINDS.values(), EMAIL_IN_USE_KIND)


class AccountComposer:
    def __init__(self, keys: PersonalKeys, origin: str = "") -> None:
        self._keys = keys
        self._origin = origin

    async def compose(self, row_id: int, kind: str, payload: Mapping[str, Any]) -> Message:
        # The address is sealed in the payload, bound to the account it is for.
        to = self._keys.cipher.open(str(payload["to"]), OUTBOX_FIELD, str(payload["user_id"]))
        if kind == EMAIL_IN_USE_KIND:
            return self._in_use(row_id, kind, to)
        secret = str(payload["secret"])
        until = datetime.fromisoformat(str(payload["expires_at"]))
        if kind == MESSAGE_KINDS["verify_email"]:
            return Message(row_id, kind, to, "Confirm your e-mail address", (
                f"Please confirm that {to} is your address for your seatserver account:\n\n"
                f"  {self._origin}/account?confirm={secret}\n\n"
                f"The link works once, until {until:%Y-%m-%d %H:%M %Z}. If you did not ask "
                "for this, ignore this message: nothing changes without the link.\n"))
        if kind == MESSAGE_KINDS["reset_password"]:
            return Message(row_id, kind, to, "Reset your password", (
                "Someone (we hope you) asked to reset the password of your seatserver "
                "account.\nChoose a new password here:\n\n"
                f"  {self._origin}/account?reset={secret}\n\n"
                f"The link works once, until {until:%Y-%m-%d %H:%M %Z}. If it was not you, "
                "ignore this message: your password stays as it is.\n"))
        raise ValueError(f"no account message for outbox kind {kind!r}")

    @staticmethod
    def _in_use(row_id: int, kind: str, to: str) -> Message:
        return Message(row_id, kind, to, "Someone tried to use your e-mail address", (
            f"Someone asked to make {to} the address of another seatserver account.\n"
            "Nothing has changed: the address stays with your account, and we sent no "
            "link that could move it.\n\nIf that was you, log in with this address "
            "instead (or reset its password from the log-in page). If it was not, you "
            "can ignore this message.\n"))
