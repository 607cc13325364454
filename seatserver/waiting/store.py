"""SaleStore: the showtimes' sale settings in PostgreSQL, the system of record.

A showtime without a row gets the deployment's defaults, and one without an
on-sale time of its own the default one (SEATSERVER_ONSALE_BEFORE before its
start, read with the start itself, so a showtime moved opens when it
should); ``put`` and ``delete`` write their audit row in the change's own
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from seatserver.audit import SYSTEM, Actor, AuditEntry, write_audit
from seatserver.errors import UnknownShowtime
from seatserver.waiting.inputs import SaleInput
from seatserver.waiting.models import SaleSettings

# The queue's keys are kept this long after the showtime ends.
KEEP_AFTER_END = timedelta(days=1)

_SELECT = """
SELECT st.id, st.starts_at, st.ends_at, ss.on_sale_at, ss.waiting_room, ss.admission_rate,
       ss.active_cap, ss.admission_ttl_s
FROM showtimes st LEFT JOIN showtime_sales ss ON ss.showtime_id = st.id
"""


@dataclass(frozen=True, slots=True)
class SaleDefaults:
    """What a showtime without settings of its own gets (from Settings)."""

    waiting_room: bool
    admission_rate: int
    active_cap: int
    admission_ttl_s: int
    # How long before its start a showtime without an on-sale time of its
    # own goes on sale; None: no default (on sale at once).
    on_sale_before: timedelta | None = None


@dataclass(frozen=True, slots=True)
class GatedShowtime:
    """A showtime whose holds its sale settings gate, and until when its
    queue's keys must be kept."""

    settings: SaleSettings
    keep_until: datetime


class SaleStore:
    def __init__(self, pool: asyncpg.Pool, defaults: SaleDefaults) -> None:
        self._pool = pool
        self._defaults = defaults

    def _settings(self, row: asyncpg.Record) -> SaleSettings:
        d = self._defaults
        on_sale_at: datetime | None = row["on_sale_at"]
        by_default = on_sale_at is None and d.on_sale_before is not None
        if by_default:
            assert d.on_sale_before is not None  # for mypy: by_default says so
            on_sale_at = row["starts_at"] - d.on_sale_before
        if row["waiting_room"] is None:
            return SaleSettings(row["id"], on_sale_at, d.waiting_room, d.admission_rate,
                                d.active_cap, d.admission_ttl_s, "default", by_default)
        return SaleSettings(row["id"], on_sale_at, row["waiting_room"], row["admission_rate"],
                            row["active_cap"], row["admission_ttl_s"], "showtime", by_default)

    async def get(self, showtime: int) -> SaleSettings:
        async with self._pool.acquire() as conn:
            return await self._get(conn, showtime)

    async def _get(self, conn: asyncpg.Connection, showtime: int) -> SaleSettings:
        row = await conn.fetchrow(_SELECT + "WHERE st.id = $1", showtime)
        if row is None:
            raise UnknownShowtime(f"there is no showtime {showtime}")
        return self._settings(row)

    async def put(self, showtime: int, data: SaleInput, by: Actor = SYSTEM) -> SaleSettings:
        async with self._pool.acquire() as conn, conn.transaction():
            before = await self._get(conn, showtime)
            await conn.execute(
                """INSERT INTO showtime_sales (showtime_id, on_sale_at, waiting_room,
                       admission_rate, active_cap, admission_ttl_s)
                   VALUES ($1, $2, $3, $4, $5, $6)
                   ON CONFLICT (showtime_id) DO UPDATE SET on_sale_at = $2,
                       waiting_room = $3, admission_rate = $4, active_cap = $5,
                       admission_ttl_s = $6, updated_at = now()""",
                showtime, data.on_sale_at, data.waiting_room, data.admission_rate,
                data.active_cap, data.admission_ttl_s)
            after = await self._get(conn, showtime)
            await write_audit(conn, AuditEntry(by, "showtime.sale_changed", before, after))
        return after

    async def delete(self, showtime: int, by: Actor = SYSTEM) -> SaleSettings:
        """Back to the deployment's defaults."""
        async with self._pool.acquire() as conn, conn.transaction():
            before = await self._get(conn, showtime)
            await conn.execute("DELETE FROM showtime_sales WHERE showtime_id = $1", showtime)
            after = await self._get(conn, showtime)
            await write_audit(conn, AuditEntry(by, "showtime.sale_changed", before, after))
        return after

    async def gated(self, *, everyone: bool = False) -> list[GatedShowtime]:
        """Showtimes not yet over whose holds their settings gate (an on-sale
        time, or a waiting room), or that have settings of their own (which
        Redis must know, if only to know they gate nothing any more). With a
        default on-sale time or waiting room, every showtime not yet over:
        even one whose opening passed, as its start may have moved later.
        ``everyone``: every showtime not yet over, whatever the defaults (a
        start's first refresh: Redis may still hold what an earlier run's
        defaults made of showtimes these defaults no longer gate)."""
        everyone = (everyone or self._defaults.waiting_room
                    or self._defaults.on_sale_before is not None)
        condition = "ss.showtime_id IS NOT NULL" + (" OR true" if everyone else "")
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(_SELECT + f"WHERE st.ends_at > now() AND ({condition}) "
                                    "ORDER BY st.id")
        return [GatedShowtime(self._settings(r), r["ends_at"] + KEEP_AFTER_END) for r in rows]

    async def keep_until(self, showtime: int) -> datetime:
        async with self._pool.acquire() as conn:
            ends = await conn.fetchval("SELECT ends_at FROM showtimes WHERE id = $1", showtime)
        if ends is None:
            raise UnknownShowtime(f"there is no showtime {showtime}")
        ended: datetime = ends
        return ended + KEEP_AFTER_END
