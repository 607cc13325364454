"""Fixed-window counters in Redis: how many times something happened lately.

Used to slow password guessing (log-ins per account and per client address),
to stop mails being sent to someone in a loop and to bound guest sessions per
address. Every instance shares the counters, so adding instances adds no guesses.

``hit`` counts an attempt and answers whether it is within the limit in one
Redis step, before the work it guards: a burst of concurrent attempts cannot
all read "under the limit" and then all do the (slow) work.
"""

from __future__ import annotations

import hashlib
import math

from seatserver import redis_keys
from seatserver.errors import RateLimited, Unavailable
from seatserver.redis_client import REDIS_DOWN, RedisClient


def subject_of(text: str) -> str:
    """A fixed-size key part for free text (an e-mail is not put in a key as is)."""
    return hashlib.sha256(text.strip().lower().encode()).hexdigest()[:32]


# KEYS[1] the counter; ARGV[1] window (ms), ARGV[2] limit.
# Returns 0 when this attempt is within the limit, else the window's ms left.
# The window starts with the first attempt; a counter found without an expiry
# (written by something else) gets one, so it can never block for ever.
_HIT = """
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if n == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
if n > tonumber(ARGV[2]) then return math.max(ttl, 1) end
return 0
"""
# KEYS[1] the counter: gives back one attempt (never below zero, expiry kept).
_REFUND = """
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
return 0
"""


def retry_after_s(ttl_ms: int | None) -> int:
    """Whole seconds to wait for a window with ``ttl_ms`` left (at least 1)."""
    return max(1, math.ceil(ttl_ms / 1000)) if ttl_ms and ttl_ms > 0 else 1


class Throttle:
    """At most ``limit`` counted events per subject in a window of ``window_s``."""

    def __init__(self, redis: RedisClient, name: str, *, limit: int, window_s: int) -> None:
        self._redis = redis
        self._name = name
        self._limit = limit
        self._window_ms = window_s * 1000
        self._hit = redis.register_script(_HIT)
        self._refund = redis.register_script(_REFUND)

    @property
    def limit(self) -> int:
        return self._limit

    def _key(self, subject: str) -> str:
        return redis_keys.throttle(self._name, subject)

    async def hit(self, subject: str, message: str = "too many attempts; try again later"
                  ) -> None:
        """Count one attempt now, before its work; raise ``rate_limited`` (with
        the seconds to wait) when it is past the limit. Atomic in Redis: of any
        number of concurrent attempts exactly ``limit`` per window pass."""
        try:
            left = int(await self._hit(keys=[self._key(subject)],
                                       args=[self._window_ms, self._limit]))
        except REDIS_DOWN as exc:
            raise Unavailable("cannot check the rate limit right now") from exc
        if left:
            raise RateLimited(message, retry_after_s=retry_after_s(left))

    async def refund(self, subject: str) -> None:
        """Give back an attempt counted by ``hit`` (it turned out not to count,
        e.g. a successful log-in against the per-address limit of failures)."""
        try:
            await self._refund(keys=[self._key(subject)])
        except REDIS_DOWN as exc:
            raise Unavailable("cannot update the rate limit right now") from exc

    async def clear(self, subject: str) -> None:
        try:
            await self._redis.delete(self._key(subject))
        except REDIS_DOWN as exc:
            raise Unavailable("cannot reset the rate limit right now") from exc
