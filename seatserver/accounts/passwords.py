"""Password hashing with argon2id, off the event loop and bounded in memory.

Each hash takes argon2-cffi's default cost (RFC 9106's low-memory profile:
64 MiB, 3 passes, ~0.2 s on these machines), so it runs in a thread and at
most ``concurrency`` at once per process: a burst of log-ins waits its turn
instead of taking the memory of a hundred hashes or stalling the loop.

``cost="test"`` (SEATSERVER_PASSWORD_COST=test) hashes with one pass over 1 MiB
instead: for test suites, which make a few hundred accounts (~70 s of CPU at
the standard cost). It is never for real accounts: the server says so in its
log at every start, and a hash made at the test cost is made anew at the
standard cost at its account's next log-in once the setting is gone
(``needs_rehash``).

``verify`` of an unknown user checks the password against a dummy hash of
the same cost, so "no such account" takes as long as "wrong password" and
the answer's timing tells an attacker nothing.
"""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

# What unknown users' passwords are checked against: a hash of a random
# password nobody kept. Only its cost matters, and that is in the string; if
# the hasher's defaults change, a fresh one is made on first use.
_DUMMY = ("$argon2id$v=19$m=65536,t=3,p=4$9Wh3cp3wEG6nX7auCHVd6g$"
          "mSuMjdrbmmVMNd60i2mmCfRlUtGulk0p4UtulSZlaFs")
MIN_LENGTH = 8
# Long enough for any passphrase; short enough that hashing it is not a DoS.
MAX_LENGTH = 256


def _hasher(cost: str) -> PasswordHasher:
    """RFC 9106's low-memory profile (argon2-cffi's defaults), or one pass
    over 1 MiB for test suites (module docstring)."""
    if cost == "standard":
        return PasswordHasher(type=Type.ID)
    if cost == "test":
        return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)
    raise ValueError(f"unknown password cost {cost!r}")


class Passwords:
    def __init__(self, *, concurrency: int = 4, cost: str = "standard") -> None:
        self._hasher = _hasher(cost)
        self._slots = asyncio.Semaphore(concurrency)
        self._dummy: str | None = None if self.needs_rehash(_DUMMY) else _DUMMY

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored``; False, after the same work,
        when there is no stored hash (unknown user)."""
        if stored is None:
            dummy = self._dummy or await self._make_dummy()
            await self._check(dummy, password)
            return False
        return await self._check(stored, password)

    def needs_rehash(self, stored: str) -> bool:
        """True when ``stored`` was made with other parameters than today's."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True

    async def _check(self, stored: str, password: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(self._verify_sync, stored, password)

    def _verify_sync(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _make_dummy(self) -> str:
        self._dummy = await self.hash(secrets.token_urlsafe(16))
        return self._dummy
