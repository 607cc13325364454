"""Request bodies of the account routes, validated at the edge (read by
``http.bodies.read_body``: a field that does not fit is 422 ``invalid_input``)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictStr

from seatserver.accounts.passwords import MAX_LENGTH, MIN_LENGTH

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{3,23}$")


def _email(value: str) -> str:
    value = value.strip()
    if len(value) > 254 or not _EMAIL.match(value) or not value.isprintable():
        raise ValueError("not an e-mail address")
    return value


def _name(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise ValueError("must not be blank (send null to clear it)")
    return value


def _phone(value: str) -> str:
    value = value.strip()
    if not _PHONE.match(value):
        raise ValueError("digits, spaces and + ( ) . / - only, 5 to 24 characters")
    return value


Email = Annotated[StrictStr, Field(max_length=320), AfterValidator(_email)]
Password = Annotated[StrictStr, Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)]
Name = Annotated[StrictStr, Field(max_length=100), AfterValidator(_name)]
Phone = Annotated[StrictStr, Field(max_length=24), AfterValidator(_phone)]
Token = Annotated[StrictStr, Field(min_length=1, max_length=128)]


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Registration(_Form):
    email: Email
    password: Password
    name: Name | None = None
    phone: Phone | None = None
    # A non-browser client wants the session token in the answer, not cookies.
    bearer: StrictBool = False


class LogIn(_Form):
    # Not checked for shape: a malformed address is simply not an account,
    # and answers like any other wrong log-in.
    email: Annotated[StrictStr, Field(max_length=320)]
    password: Annotated[StrictStr, Field(max_length=MAX_LENGTH)]
    bearer: StrictBool = False


class ProfileUpdate(_Form):
    """Fields left out stay as they are; null clears name or phone."""

    name: Name | None = None
    phone: Phone | None = None
    # A new address is only used once confirmed from a link sent to it; asking
    # for one takes the current password (a session left open is not enough).
    email: Email | None = None
    current_password: Annotated[StrictStr, Field(max_length=MAX_LENGTH)] | None = None


class TokenForm(_Form):
    token: Token


class ResetRequest(_Form):
    email: Annotated[StrictStr, Field(max_length=320)]


class NewPassword(_Form):
    token: Token
    password: Password


# A code as typed: six digits, or a recovery code (16 letters and digits, in
# groups); spaces and hyphens are allowed, anything longer is not a code.
Code = Annotated[StrictStr, Field(min_length=1, max_length=32)]


class LogInCode(_Form):
    """The log-in's second step."""

    challenge: Annotated[StrictStr, Field(min_length=1, max_length=128)]
    code: Code
    bearer: StrictBool = False


class CodeForm(_Form):
    code: Code
