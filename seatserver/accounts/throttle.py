"""Fixed-window counters in Redis: how many times something happened lately.

Used to slow password guessing (failed log-ins per account and per client
address) and to stop reset mails being sent to someone in a loop. Every
instance shares the counters, so adding instances adds no guesses.
"""

from __future__ import annotations

import hashlib
import math

from seatserver import redis_keys
from seatserver.errors import RateLimited, Unavailable
from seatserver.holds.engine import REDIS_DOWN
from seatserver.redis_client import RedisClient


def subject_of(text: str) -> str:
    """A fixed-size key part for free text (an e-mail is not put in a key as is)."""
    return hashlib.sha256(text.strip().lower().encode()).hexdigest()[:32]


class Throttle:
    """At most ``limit`` counted events per subject in a window of ``window_s``."""

    def __init__(self, redis: RedisClient, name: str, *, limit: int, window_s: int) -> None:
        self._redis = redis
        self._name = name
        self._limit = limit
        self._window_ms = window_s * 1000

    def _key(self, subject: str) -> str:
        return redis_keys.throttle(self._name, subject)

    async def check(self, subject: str) -> None:
        """Raise ``rate_limited`` (with the seconds to wait) once the limit is reached."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.get(self._key(subject))
                pipe.pttl(self._key(subject))
                count, ttl = await pipe.execute()
        except REDIS_DOWN as exc:
            raise Unavailable("cannot check the rate limit right now") from exc
        if count is not None and int(count) >= self._limit:
            retry = max(1, math.ceil(ttl / 1000)) if ttl and ttl > 0 else 1
            raise RateLimited("too many attempts; try again later", retry_after_s=retry)

    async def count(self, subject: str) -> None:
        """Count one event. The window starts with the first event: the key is
        created with its expiry and incremented in one transaction, so a
        counter can never be left without one."""
        key = self._key(subject)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(key, 0, px=self._window_ms, nx=True)
                pipe.incr(key)
                await pipe.execute()
        except REDIS_DOWN as exc:
            raise Unavailable("cannot count the attempt right now") from exc

    async def clear(self, subject: str) -> None:
        try:
            await self._redis.delete(self._key(subject))
        except REDIS_DOWN as exc:
            raise Unavailable("cannot reset the rate limit right now") from exc
