"""Checkout as a buyer does it: book the held seats, then pay (or decline) on
the provider's hosted page and follow its redirect back.

The flow is the picker's (web/picker/checkout.js), done with plain HTTP:

1. ``POST /api/showtimes/{id}/bookings`` with ``{"seats": [...]}``, a Bearer
   token and an ``Idempotency-Key``; retried with the same key when the
   server did not decide (5xx, ``request_in_flight``, no answer), so a
   booking whose answer was lost is found, not made twice.
2. ``POST <checkout_url>/pay`` (or ``/decline``): the simulated provider's
   page answers 303 to our return URL with a signed result.
3. ``GET`` that return URL: the server verifies and applies the payment and
   answers 303 to the receipt.
4. ``GET /api/bookings/{ref}``: the booking's status as the buyer sees it.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from seatserver.loadgen.ledger import CheckoutRecord

ATTEMPTS = 4
TIMEOUT = aiohttp.ClientTimeout(total=30)


class CheckoutFailed(Exception):
    """The checkout ended without an outcome; ``code`` says why (error code or
    transport failure)."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


def _now_ms() -> float:
    return time.time() * 1000


def _code(status: int, body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("code") or f"http_{status}")
    return f"http_{status}"


def _local(base_url: str, location: str) -> str:
    """A redirect target on the server we talk to, whatever host it names
    (behind a load balancer the server may name its own address)."""
    parts = urlsplit(location)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return base_url + path


def _deadline_ms(iso: str | None) -> int | None:
    if not iso:
        return None
    return round(datetime.fromisoformat(iso).timestamp() * 1000)


class Payer:
    """One buyer's HTTP side: bookings and the provider's page."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, token: str) -> None:
        self._http = http
        self._base = base_url
        self._auth = {"Authorization": f"Bearer {token}"}

    async def _json(self, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
        headers = {**self._auth, **kwargs.pop("headers", {})}
        async with self._http.request(method, url, headers=headers, allow_redirects=False,
                                      timeout=TIMEOUT, **kwargs) as resp:
            body = await resp.json() if resp.content_type == "application/json" else None
            return resp.status, body

    async def book(self, record: CheckoutRecord) -> dict[str, Any]:
        """The pending booking for the record's seats (step 1)."""
        key = secrets.token_hex(16)
        url = f"{self._base}/api/showtimes/{record.showtime}/bookings"
        code = "no_answer"
        for attempt in range(ATTEMPTS):
            try:
                status, body = await self._json("POST", url, json={"seats": list(record.seats)},
                                                headers={"Idempotency-Key": key})
            except (aiohttp.ClientError, TimeoutError):
                status, body = 0, None
            if status == 201 and isinstance(body, dict):
                record.reference = str(body["reference"])
                record.hold_deadline_ms = _deadline_ms(body.get("hold_deadline"))
                record.status = str(body.get("status"))
                return body
            code = _code(status, body) if status else "no_answer"
            if status and status < 500 and code != "request_in_flight":
                raise CheckoutFailed(code)
            await asyncio.sleep(0.2 * 2 ** attempt)
        raise CheckoutFailed(code)

    async def pay(self, record: CheckoutRecord, checkout_url: str, action: str) -> str:
        """Click ``action`` (pay | decline) on the provider's page and come back
        (steps 2-4); returns the booking's status as the buyer then sees it."""
        async with self._http.post(_local(self._base, checkout_url) + "/" + action,
                                   allow_redirects=False, timeout=TIMEOUT) as resp:
            if resp.status != 303:
                raise CheckoutFailed(f"provider_{resp.status}")
            back = resp.headers["Location"]
        status, body = await self._json("GET", _local(self._base, back))
        if status != 303:
            raise CheckoutFailed(_code(status, body))
        return await self.status(record)

    async def status(self, record: CheckoutRecord) -> str:
        """The booking's status; waits a little while it is still pending (the
        payment's webhook may be what settles it)."""
        assert record.reference is not None
        for attempt in range(10):
            status, body = await self._json("GET", f"{self._base}/api/bookings/"
                                                   f"{record.reference}")
            if status != 200 or not isinstance(body, dict):
                raise CheckoutFailed(_code(status, body))
            state = record.status = str(body["status"])
            if state != "pending":
                break
            await asyncio.sleep(0.05 * (attempt + 1))
        record.done_ms = _now_ms()
        return state
