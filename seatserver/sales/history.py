"""SeatHistory: who held, released, booked and cancelled one seat, and when.

Two sources, merged by time. PostgreSQL keeps every booking of the seat and
its audit rows (created, booked, expired, cancelled, by whom) for ever. The
showtime's Redis stream (``redis_keys.events``) has the holds and releases,
each with its holder's user id (field ``h``, see holds/lua/_prelude.lua), and
expiries; but it is trimmed to about ``SEATSERVER_STREAM_MAXLEN`` entries, so
on a busy showtime its oldest part is gone: the answer says so (``partial``)
and from when the stream still has it (``stream_since``).

People are named by user id and kind; an e-mail address only for staff
(admin and kiosk accounts), never a buyer's, and never a session token.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from redis.exceptions import ResponseError

from seatserver import redis_keys
from seatserver.redis_client import RedisClient
from seatserver.sales.store import SalesStore

STAFF = frozenset({"admin", "kiosk", "box_office"})
_CHUNK = 1000


def _ms(entry_id: bytes | str) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.partition("-")[0])


def _at(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat()


def person(user_id: int, kind: str | None, email: str | None) -> dict[str, Any]:
    """A user as the history shows them."""
    return {"user_id": user_id, "kind": kind,
            "email": email if kind in STAFF else None}


class SeatHistory:
    def __init__(self, sales: SalesStore, redis: RedisClient, stream_maxlen: int) -> None:
        self._sales = sales
        self._redis = redis
        self._maxlen = stream_maxlen

    async def of(self, showtime: int, seat: str) -> dict[str, Any]:
        """The seat's events, oldest first, and whether the stream's part is whole."""
        bookings, audit = await self._sales.seat_sales(showtime, seat)
        stream, partial, since = await self._stream(showtime, seat)
        holders = sorted({int(h) for _, _, h in stream if h is not None and h.isdigit()})
        users = await self._sales.users(holders) if holders else {}
        references = {b.booking_id: b.reference for b in bookings}

        events: list[tuple[str, int, dict[str, Any]]] = []
        for ms, kind, holder in stream:
            who = None
            if holder is not None and holder.isdigit():
                known = users.get(int(holder), (None, None))
                who = person(int(holder), *known)
            events.append((_at(ms), 0, {"at": _at(ms), "source": "stream", "action": kind,
                                        "by": who, "booking": None}))
        buyers = {b.booking_id: person(b.user_id, b.kind, b.email) for b in bookings}
        for row in audit:
            at = row["at"].astimezone(dt.UTC).isoformat()
            events.append((at, 1, {"at": at, "source": "audit", "action": row["action"],
                                   "by": self._actor(row["actor"], buyers[row["booking_id"]]),
                                   "booking": references[row["booking_id"]],
                                   "reason": row["reason"]}))
        events.sort(key=lambda e: (e[0], e[1]))
        return {"showtime": showtime, "seat": seat, "events": [e for _, _, e in events],
                "bookings": [{"reference": b.reference, "status": b.status,
                              "created_at": b.created_at.isoformat(),
                              "buyer": buyers[b.booking_id]} for b in bookings],
                "partial": partial, "stream_since": since, "stream_maxlen": self._maxlen}

    @staticmethod
    def _actor(actor: str, buyer: dict[str, Any]) -> dict[str, Any]:
        """The audit row's actor: the buyer, staff (``user:<id>``), a provider or the system."""
        name, _, rest = actor.partition(":")
        if name == "user" and rest == str(buyer["user_id"]):
            return buyer
        if name == "user" and rest.isdigit():
            return {"user_id": int(rest), "kind": "staff", "email": None}
        return {"user_id": None, "kind": actor, "email": None}

    async def _stream(self, showtime: int, seat: str
                      ) -> tuple[list[tuple[int, str, str | None]], bool, str | None]:
        """The stream's entries that name the seat: (ms, kind, holder); whether
        older entries were trimmed away; the time of the oldest entry kept."""
        key = redis_keys.events(showtime)
        try:
            info = await self._redis.xinfo_stream(key)
        except ResponseError:  # no stream: nothing happened in Redis, or it was lost
            return [], False, None
        first = info.get("first-entry")
        partial = _trimmed(info, self._maxlen)
        found: list[tuple[int, str, str | None]] = []
        start: bytes | str = "-"
        while True:
            entries: Any = await self._redis.xrange(key, min=start, count=_CHUNK)
            for entry_id, fields in entries:
                seats = fields.get(b"s", b"").decode().split(",")
                if seat in seats:
                    holder = fields.get(b"h")
                    found.append((_ms(entry_id), fields.get(b"k", b"").decode(),
                                  holder.decode() if holder is not None else None))
            if len(entries) < _CHUNK:
                break
            start = b"(" + _raw(entries[-1][0])
        since = _at(_ms(first[0])) if first else None
        return found, partial, since


def _raw(entry_id: bytes | str) -> bytes:
    return entry_id if isinstance(entry_id, bytes) else entry_id.encode()


def _trimmed(info: dict[Any, Any], maxlen: int) -> bool:
    """Whether a stream has lost entries to trimming. Redis 7 counts the
    entries ever added; Redis 6.2 does not, so there: a stream at its
    length bound (``MAXLEN ~`` trims only past it, keeping at least the
    bound) or emptied after it had entries."""
    length = int(info.get("length", 0))
    added = info.get("entries-added")
    if added is not None:
        return int(added) > length
    last = info.get("last-generated-id")
    last_id = last.decode() if isinstance(last, bytes) else str(last or "0-0")
    return length >= maxlen or (length == 0 and last_id != "0-0")
