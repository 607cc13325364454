"""The sales API for the operator's console: ``/api/admin/sales/…`` and a
seat's history. Admins only (there is no read-only staff role); reads only,
so nothing here is audited.

Every report takes the same query (``SalesRange``): a malformed day, a range
backwards or longer than ``MAX_DAYS`` is 400 ``bad_request``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import asyncpg
from aiohttp import web

from seatserver.errors import BadRequest
from seatserver.http.openapi import describe
from seatserver.http.params import query_of, shown, showtime_id
from seatserver.http.responses import json_response
from seatserver.http.roles import Role, allow
from seatserver.sales.export import BOM, Cell, csv_lines
from seatserver.sales.history import SeatHistory
from seatserver.sales.inputs import SalesRange
from seatserver.sales.store import SHOWTIMES_MAX, SalesStore

_SEAT = re.compile(r"[A-Za-z0-9-]{1,16}")  # seats.seat_id's CHECK
CSV = "text/csv"

SHOWTIME_COLUMNS = ["showtime_id", "day", "starts_at", "movie", "theater", "screen",
                    "capacity", "sold", "occupancy", "revenue_minor", "currency",
                    "refunds", "refunded_minor"]
BOOKING_COLUMNS = ["reference", "status", "created_at", "user_id", "buyer_kind",
                   "buyer_email", "showtime_id", "starts_at", "movie", "theater", "screen",
                   "seats", "amount_minor", "currency", "refunded_minor"]


def _filename(kind: str, start: dt.date, end: dt.date) -> str:
    return f'attachment; filename="{kind}-{start.isoformat()}-to-{end.isoformat()}.csv"'


def _showtime_line(s: dict[str, Any]) -> list[Cell]:
    return [s["id"], s["day"], s["starts_at"], s["movie"]["title"], s["theater"], s["screen"],
            sum(s["capacity"].values()), sum(s["sold"].values()), s["occupancy"],
            s["revenue"]["amount"], s["revenue"]["currency"], s["refunds"],
            s["refunded"]["amount"]]


def _booking_line(r: Mapping[str, Any]) -> list[Cell]:
    return [r["reference"], r["status"], r["created_at"].isoformat(), r["user_id"],
            r["buyer_kind"], r["buyer_email"], r["showtime_id"], r["starts_at"].isoformat(),
            r["title"], r["theater"], r["screen"], r["seats"], r["amount"], r["currency"],
            r["refunded"]]


class SalesHandlers:
    def __init__(self, sales: SalesStore, history: SeatHistory) -> None:
        self._sales = sales
        self._history = history

    async def _range(self, request: web.Request) -> tuple[dt.date, dt.date, int | None]:
        query = query_of(request, SalesRange)
        start, end = query.days(query.start or await self._sales.today())
        return start, end, query.movie

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/admin/sales/showtimes", self.showtimes),
            web.get("/api/admin/sales/showtimes.csv", self.showtimes_csv),
            web.get("/api/admin/sales/daily", self.daily),
            web.get("/api/admin/sales/bookings.csv", self.bookings_csv),
            web.get("/api/admin/showtimes/{id}/seats/{seat}/history", self.seat_history),
        ]

    @allow(Role.ADMIN)
    @describe("What each showtime of a range sold: seats per type, revenue, occupancy.",
              query=SalesRange)
    async def showtimes(self, request: web.Request) -> web.Response:
        start, end, movie = await self._range(request)
        found = await self._sales.showtimes(start, end, movie)
        return json_response({"from": start.isoformat(), "to": end.isoformat(),
                              "showtimes": found, "truncated": len(found) >= SHOWTIMES_MAX})

    @allow(Role.ADMIN)
    @describe("Sales per day and movie over a range.", query=SalesRange)
    async def daily(self, request: web.Request) -> web.Response:
        start, end, movie = await self._range(request)
        return json_response({"from": start.isoformat(), "to": end.isoformat(),
                              "days": await self._sales.daily(start, end, movie)})

    @allow(Role.ADMIN)
    @describe("Sales per showtime as CSV.", query=SalesRange, content=CSV)
    async def showtimes_csv(self, request: web.Request) -> web.Response:
        start, end, movie = await self._range(request)
        found = await self._sales.showtimes(start, end, movie)
        lines: list[list[Cell]] = [list(SHOWTIME_COLUMNS), *map(_showtime_line, found)]
        return web.Response(body=BOM + csv_lines(lines), content_type=CSV, charset="utf-8",
                            headers={"Content-Disposition": _filename("sales", start, end)})

    @allow(Role.ADMIN)
    @describe("Every booking of a range's showtimes as CSV.", query=SalesRange, content=CSV)
    async def bookings_csv(self, request: web.Request) -> web.StreamResponse:
        start, end, movie = await self._range(request)
        chunks = self._sales.booking_rows(start, end, movie)
        return await _stream_csv(request, _filename("bookings", start, end),
                                 BOOKING_COLUMNS, chunks, _booking_line)

    @allow(Role.ADMIN)
    @describe("Who held, released, booked and cancelled one seat of a showtime, and when.",
              errors=[404])
    async def seat_history(self, request: web.Request) -> web.Response:
        showtime = showtime_id(request)
        seat = request.match_info["seat"]
        if not _SEAT.fullmatch(seat):
            raise BadRequest(f"seat: not a seat id, got {shown(seat)}")
        return json_response(await self._history.of(showtime, seat))


async def _stream_csv(request: web.Request, disposition: str, header: list[str],
                      chunks: AsyncIterator[list[asyncpg.Record]],
                      line: Callable[[asyncpg.Record], list[Cell]]) -> web.StreamResponse:
    """Write the CSV as its rows come; the first chunk is read before the
    answer starts, so that a database that cannot be reached is still a 503."""
    first: list[asyncpg.Record] = await anext(chunks, [])
    response = web.StreamResponse(headers={"Content-Disposition": disposition})
    response.content_type = CSV
    response.charset = "utf-8"
    await response.prepare(request)
    head: list[list[Cell]] = [list(header)]
    await response.write(BOM + csv_lines([*head, *map(line, first)]))
    async for rows in chunks:
        await response.write(csv_lines(line(r) for r in rows))
    await response.write_eof()
    return response
