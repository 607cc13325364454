"""A showtime's sale settings, as PostgreSQL keeps them and Redis obeys them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal


@dataclass(frozen=True, slots=True)
class SaleSettings:
    """When a showtime goes on sale, and whether (and how fast) buyers are
    let in from a waiting room. ``source``: the showtime's own settings, or
    the deployment's defaults (SEATSERVER_WAITING_ROOM and the rest).
    ``on_sale_default``: ``on_sale_at`` is not the showtime's own but the
    deployment's default (SEATSERVER_ONSALE_BEFORE before its start), which
    applies whenever a showtime has no on-sale time of its own."""

    showtime: int
    on_sale_at: datetime | None
    waiting_room: bool
    admission_rate: int  # buyers per minute; 0: none, the cap paces
    active_cap: int  # buyers admitted and active at once; 0: none, the rate paces
    admission_ttl_s: int  # how long an admission lasts unused
    source: Literal["showtime", "default"] = "showtime"
    on_sale_default: bool = False

    @property
    def on_sale_source(self) -> Literal["showtime", "default", "none"]:
        """Where ``on_sale_at`` comes from; ``none``: there is none, on sale at once."""
        if self.on_sale_at is None:
            return "none"
        return "default" if self.on_sale_default else "showtime"

    @property
    def own_on_sale_at(self) -> datetime | None:
        """The showtime's own on-sale time, what an admin set (None: the default)."""
        return None if self.on_sale_default else self.on_sale_at

    @property
    def gated(self) -> bool:
        """Whether the hold scripts need these settings in Redis at all."""
        return self.waiting_room or self.on_sale_at is not None
