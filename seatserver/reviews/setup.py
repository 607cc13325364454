"""setup_reviews: ratings and reviews of movies, and their moderation."""

from __future__ import annotations

from aiohttp import web

from seatserver.appkeys import DB_POOL
from seatserver.catalog.setup import AUDITOR
from seatserver.lifecycle import Lifecycle, add_feature
from seatserver.personal.setup import PERSONAL
from seatserver.reviews.http import ReviewHandlers
from seatserver.reviews.store import ReviewStore


def setup_reviews(app: web.Application) -> None:
    add_feature(app, _wire)


def _wire(app: web.Application) -> Lifecycle:
    reviews = ReviewStore(app[DB_POOL], app[PERSONAL])
    app.router.add_routes(ReviewHandlers(reviews, app[AUDITOR]).routes())
    return Lifecycle()
