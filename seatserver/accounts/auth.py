"""Signing up, logging in and out, and password resets: the steps in their order.

Log-in answers the same way, after the same work, whether the e-mail is
unknown or the password wrong (one ``invalid_credentials``, a hash verified
either way). Every attempt is counted first, per client address and per
account, in one Redis step each, and one past either limit is answered
``rate_limited`` without hashing: twenty attempts sent at once get exactly
the limit's worth of password checks. A successful log-in gives its attempt
back to the address (only failures count there) and forgets the account's
failures, as it proves the password is known.

An account with two-factor authentication gets no session for its password:
a challenge instead (``CodeNeeded``), which ``log_in_with_code`` turns into a
session with the account's code or one of its recovery codes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from seatserver.accounts.linking import GuestLinker
from seatserver.accounts.mfa import CHALLENGE_TTL_S, LogInChallenges, MfaStore, MfaVerifier
from seatserver.accounts.passwords import Passwords
from seatserver.accounts.rbac import Caller
from seatserver.accounts.sessions import NewSession
from seatserver.accounts.store import Account, AccountStore, Credentials, NewAccount
from seatserver.accounts.throttle import Throttle, subject_of
from seatserver.errors import InvalidCredentials, NotFound
from seatserver.http.roles import Role

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SignedIn:
    account: Account
    session: NewSession
    # What came along from the guest session: bookings moved, seats re-keyed.
    linked_bookings: list[str]
    linked_seats: int


@dataclass(frozen=True, slots=True)
class CodeNeeded:
    """The password was right; the log-in waits for a two-factor code."""

    challenge: str
    expires_in_s: int


@dataclass(frozen=True, slots=True)
class SecondFactor:
    store: MfaStore
    verifier: MfaVerifier
    challenges: LogInChallenges


@dataclass(frozen=True, slots=True)
class Throttles:
    login_account: Throttle
    login_address: Throttle
    register_address: Throttle
    reset_account: Throttle
    reset_address: Throttle
    email_change: Throttle


def _guest(caller: Caller | None) -> int | None:
    return caller.identity.user_id if caller and caller.role is Role.GUEST else None


class Authenticator:
    def __init__(self, store: AccountStore, passwords: Passwords, linker: GuestLinker,
                 throttles: Throttles, mfa: SecondFactor) -> None:
        self._store = store
        self._passwords = passwords
        self._linker = linker
        self._throttles = throttles
        self._mfa = mfa

    async def register(self, new: NewAccount, *, password: str, caller: Caller | None,
                       address: str) -> SignedIn:
        """A customer account, logged in. From a guest session the guest
        becomes the account, holds and bookings included."""
        await self._throttles.register_address.hit(address)
        hashed = NewAccount(new.email, await self._passwords.hash(password), new.name,
                            new.phone)
        account, session = await self._store.register(
            hashed, guest_id=_guest(caller), replacing=caller.token if caller else None,
            remote=address)
        return SignedIn(account, session, [], 0)

    async def log_in(self, email: str, password: str, *, caller: Caller | None,
                     address: str) -> SignedIn | CodeNeeded:
        found = await self.check_password(email, password, address=address)
        if self._passwords.needs_rehash(found.password_hash):
            await self._store.set_password_hash(found.user_id,
                                                await self._passwords.hash(password))
        if (await self._mfa.store.status(found.user_id)).enrolled:
            challenge = await self._mfa.challenges.issue(found.user_id)
            return CodeNeeded(challenge, CHALLENGE_TTL_S)
        return await self._open(found.user_id, caller, address)

    async def log_in_with_code(self, challenge: str, code: str, *, caller: Caller | None,
                               address: str) -> SignedIn:
        """The log-in's second step: the session, once the code is right."""
        user_id = await self._mfa.challenges.user_of(challenge)
        await self._mfa.verifier.verify(user_id, code, remote=address)
        await self._mfa.challenges.take(challenge)
        return await self._open(user_id, caller, address, mfa=True)

    async def check_password(self, email: str, password: str, *, address: str
                             ) -> Credentials:
        """The account whose e-mail and password these are; ``invalid_credentials``
        otherwise. Counted (before hashing) against the log-in limits of the
        account and the address, whatever route asks: a password is guessed
        at the same pace through any of them."""
        account_key = subject_of(email)
        await self._throttles.login_address.hit(address)
        await self._throttles.login_account.hit(account_key)
        found = await self._store.credentials(email)
        ok = await self._passwords.verify(found.password_hash if found else None, password)
        if found is None or not ok:
            raise InvalidCredentials("the e-mail address or the password is wrong")
        await self._throttles.login_account.clear(account_key)
        await self._throttles.login_address.refund(address)
        return found

    async def _open(self, user_id: int, caller: Caller | None, address: str, *,
                    mfa: bool = False) -> SignedIn:
        guest = _guest(caller)
        seats = 0
        if guest is not None and guest != user_id:
            seats = await self._linker.move_holds(guest, user_id)
        session, linked = await self._store.log_in(
            user_id, guest_id=guest, replacing=caller.token if caller else None,
            remote=address, mfa=mfa)
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

    async def change_email(self, account: Account, email: str, password: str, *,
                           address: str) -> None:
        """Ask for ``email`` to become the account's address (see
        ``AccountStore.request_email_change``): at most ``email_change``'s
        limit per account and window, and only with the current password,
        checked like a log-in (counted against the same limits)."""
        await self._throttles.email_change.hit(
            str(account.id), "too many e-mail address changes; try again later")
        if account.email is None:
            raise InvalidCredentials("this account has no password to confirm with")
        await self.check_password(account.email, password, address=address)
        await self._store.request_email_change(account.id, email, remote=address)

    async def request_reset(self, email: str, *, address: str) -> None:
        """Send a reset link if the address is an account's. Limited per
        address and per account, so nobody's inbox can be flooded; the caller
        answers the same whether or not a message was sent."""
        account_key = subject_of(email)
        await self._throttles.reset_address.hit(address)
        await self._throttles.reset_account.hit(account_key)
        await self._store.request_reset(email)

    async def reset_password(self, token: str, password: str, *, address: str) -> None:
        # Look before hashing: a made-up token must not cost us a hash.
        await self._store.check_token(token, "reset_password")
        await self._store.reset_password(token, await self._passwords.hash(password),
                                         remote=address)
