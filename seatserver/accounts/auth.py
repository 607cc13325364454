"""Signing up, logging in and out, and password resets: the steps in their order.

Log-in answers the same way, after the same work, whether the e-mail is
unknown or the password wrong (one ``invalid_credentials``, a hash verified
either way), and counts failures per account and per client address; past
either limit it answers ``rate_limited`` before looking at the password.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from seatserver.accounts.linking import GuestLinker
from seatserver.accounts.passwords import Passwords
from seatserver.accounts.rbac import Caller, Role
from seatserver.accounts.sessions import NewSession
from seatserver.accounts.store import Account, AccountStore, NewAccount
from seatserver.accounts.throttle import Throttle, subject_of
from seatserver.errors import InvalidCredentials, NotFound

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SignedIn:
    account: Account
    session: NewSession
    # What came along from the guest session: bookings moved, seats re-keyed.
    linked_bookings: list[str]
    linked_seats: int


@dataclass(frozen=True, slots=True)
class Throttles:
    login_account: Throttle
    login_address: Throttle
    register_address: Throttle
    reset_account: Throttle
    reset_address: Throttle


def _guest(caller: Caller | None) -> int | None:
    return caller.identity.user_id if caller and caller.role is Role.GUEST else None


class Authenticator:
    def __init__(self, store: AccountStore, passwords: Passwords, linker: GuestLinker,
                 throttles: Throttles) -> None:
        self._store = store
        self._passwords = passwords
        self._linker = linker
        self._throttles = throttles

    async def register(self, new: NewAccount, *, password: str, caller: Caller | None,
                       address: str) -> SignedIn:
        """A customer account, logged in. From a guest session the guest
        becomes the account, holds and bookings included."""
        await self._throttles.register_address.check(address)
        await self._throttles.register_address.count(address)
        hashed = NewAccount(new.email, await self._passwords.hash(password), new.name,
                            new.phone)
        account, session = await self._store.register(
            hashed, guest_id=_guest(caller), replacing=caller.token if caller else None,
            remote=address)
        return SignedIn(account, session, [], 0)

    async def log_in(self, email: str, password: str, *, caller: Caller | None,
                     address: str) -> SignedIn:
        account_key = subject_of(email)
        await self._throttles.login_address.check(address)
        await self._throttles.login_account.check(account_key)
        found = await self._store.credentials(email)
        ok = await self._passwords.verify(found.password_hash if found else None, password)
        if found is None or not ok:
            await self._throttles.login_address.count(address)
            await self._throttles.login_account.count(account_key)
            raise InvalidCredentials("the e-mail address or the password is wrong")
        await self._throttles.login_account.clear(account_key)
        if self._passwords.needs_rehash(found.password_hash):
            await self._store.set_password_hash(found.user_id,
                                                await self._passwords.hash(password))
        return await self._open(found.user_id, caller, address)

    async def _open(self, user_id: int, caller: Caller | None, address: str) -> SignedIn:
        guest = _guest(caller)
        seats = 0
        if guest is not None and guest != user_id:
            seats = await self._linker.move_holds(guest, user_id)
        session, linked = await self._store.log_in(
            user_id, guest_id=guest, replacing=caller.token if caller else None,
            remote=address)
        if guest is not None and guest != user_id:
            try:
                seats += await self._linker.move_holds(guest, user_id)
            except Exception:
                # Logged in already; a hold taken meanwhile stays the guest's.
                log.exception("moving holds of guest %s after log-in failed", guest)
        account = await self._store.get(user_id)
        if account is None:
            raise NotFound("the account was deleted meanwhile")
        return SignedIn(account, session, linked.bookings, seats)

    async def request_reset(self, email: str, *, address: str) -> None:
        """Send a reset link if the address is an account's. Limited per
        address and per account, so nobody's inbox can be flooded; the caller
        answers the same whether or not a message was sent."""
        account_key = subject_of(email)
        await self._throttles.reset_address.check(address)
        await self._throttles.reset_account.check(account_key)
        await self._throttles.reset_address.count(address)
        await self._throttles.reset_account.count(account_key)
        await self._store.request_reset(email)

    async def reset_password(self, token: str, password: str, *, address: str) -> None:
        # Look before hashing: a made-up token must not cost us a hash.
        await self._store.check_token(token, "reset_password")
        await self._store.reset_password(token, await self._passwords.hash(password),
                                         remote=address)
