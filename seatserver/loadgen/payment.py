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

Every step is safe to repeat (the provider's page shows a settled order's
result again, the return is deduplicated), so each is retried while the
server says "later" (503 ``unavailable`` / ``payment_unavailable``, after its
``Retry-After``) or does not answer (a restarting instance behind a load
balancer), for up to ``RETRY_FOR_S``: what a chaos run needs from a buyer.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from seatserver.loadgen.ledger import CheckoutRecord

TIMEOUT = aiohttp.ClientTimeout(total=30)
RETRY_FOR_S = 30.0  # a step that keeps hearing "later" gives up after this long
BACKOFF_S, BACKOFF_CAP_S = 0.2, 2.0  # without a Retry-After: doubling, jittered
# Where simulated guests ask for their tickets (.invalid: never a real domain).
LOADGEN_EMAIL = "loadgen@example.invalid"


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


def _pause(attempt: int, retry_after: str | None) -> float:
    """How long to wait before trying again: the server's Retry-After (seconds)
    when it gave one, else a capped doubling; jittered, so that buyers told
    "later" at once do not all come back at once."""
    if retry_after is not None and retry_after.isdigit():
        base = min(float(retry_after), RETRY_FOR_S / 4)
    else:
        base = min(BACKOFF_CAP_S, BACKOFF_S * 2 ** attempt)
    return base * random.uniform(0.5, 1.5)


class Payer:
    """One buyer's HTTP side: bookings and the provider's page.

    ``on_retry`` is told the code of every answer that made a step try again
    (``unavailable``, ``payment_unavailable``, ``no_answer``, ...).
    """

    def __init__(self, http: aiohttp.ClientSession, base_url: str, token: str,
                 on_retry: Callable[[str], None] | None = None) -> None:
        self._http = http
        self._base = base_url
        self._auth = {"Authorization": f"Bearer {token}"}
        self._on_retry = on_retry

    async def _once(self, method: str, url: str, **kwargs: Any
                    ) -> tuple[int, Any, str | None, str | None]:
        """One request: status (0: no answer), JSON body, Retry-After, Location."""
        headers = {**self._auth, **kwargs.pop("headers", {})}
        try:
            async with self._http.request(method, url, headers=headers, allow_redirects=False,
                                          timeout=TIMEOUT, **kwargs) as resp:
                body = await resp.json() if resp.content_type == "application/json" else None
                return (resp.status, body, resp.headers.get("Retry-After"),
                        resp.headers.get("Location"))
        except (aiohttp.ClientError, TimeoutError):
            return 0, None, None, None

    async def _request(self, method: str, url: str, **kwargs: Any
                       ) -> tuple[int, Any, str | None]:
        """A request retried while its answer says "later" or never comes; the
        last answer (status, body, Location) once it says anything else."""
        deadline = time.monotonic() + RETRY_FOR_S
        attempt = 0
        while True:
            status, body, retry_after, location = await self._once(method, url, **kwargs)
            code = _code(status, body) if status else "no_answer"
            later = status == 0 or status >= 500 or code == "request_in_flight"
            pause = _pause(attempt, retry_after)
            if not later or time.monotonic() + pause > deadline:
                return status, body, location
            if self._on_retry is not None:
                self._on_retry(code)
            attempt += 1
            await asyncio.sleep(pause)

    async def book(self, record: CheckoutRecord) -> dict[str, Any]:
        """The pending booking for the record's seats (step 1); every try
        carries the same Idempotency-Key."""
        key = secrets.token_hex(16)
        url = f"{self._base}/api/showtimes/{record.showtime}/bookings"
        status, body, _ = await self._request("POST", url, json={"seats": list(record.seats),
                                                    # Guests give an address for the ticket.
                                                    "email": LOADGEN_EMAIL},
                                              headers={"Idempotency-Key": key})
        if status == 201 and isinstance(body, dict):
            record.reference = str(body["reference"])
            record.hold_deadline_ms = _deadline_ms(body.get("hold_deadline"))
            record.status = str(body.get("status"))
            return body
        raise CheckoutFailed(_code(status, body) if status else "no_answer")

    async def pay(self, record: CheckoutRecord, checkout_url: str, action: str) -> str:
        """Click ``action`` (pay | decline) on the provider's page and come back
        (steps 2-4); returns the booking's status as the buyer then sees it."""
        status, body, back = await self._request(
            "POST", _local(self._base, checkout_url) + "/" + action)
        if status != 303 or back is None:
            raise CheckoutFailed(f"provider_{_code(status, body) if status else 'no_answer'}")
        status, body, _ = await self._request("GET", _local(self._base, back))
        if status != 303:
            raise CheckoutFailed(_code(status, body) if status else "no_answer")
        return await self.status(record)

    async def status(self, record: CheckoutRecord) -> str:
        """The booking's status; waits a little while it is still pending (the
        payment's webhook may be what settles it)."""
        assert record.reference is not None
        for attempt in range(10):
            status, body, _ = await self._request(
                "GET", f"{self._base}/api/bookings/{record.reference}")
            if status != 200 or not isinstance(body, dict):
                raise CheckoutFailed(_code(status, body) if status else "no_answer")
            state = record.status = str(body["status"])
            if state != "pending":
                break
            await asyncio.sleep(0.05 * (attempt + 1))
        record.done_ms = _now_ms()
        return state
