"""The catalog as the pages ask it: does the showtime or film a page shows exist."""

from __future__ import annotations

from seatserver.catalog.store import CatalogStore
from seatserver.http.pages import Showing


class CatalogPages:
    """``seatserver.http.pages.PageLookup`` over the catalog (one query a page)."""

    def __init__(self, store: CatalogStore) -> None:
        self._store = store

    async def showing(self, showtime_id: int) -> Showing | None:
        summary = await self._store.showtime(showtime_id)
        if summary is None:
            return None
        return Showing(title=summary.movie.title, movie_id=summary.movie.id,
                       starts_at=summary.starts_at, ends_at=summary.ends_at)

    async def film_exists(self, movie_id: int) -> bool:
        return await self._store.movie_exists(movie_id)
