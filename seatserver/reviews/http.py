"""Reviews over HTTP: a movie's public reviews, writing and editing one's
own, and the admins' moderation (hide or show again, audited)."""

from __future__ import annotations

from aiohttp import web

from seatserver.accounts.rbac import identity_of
from seatserver.catalog.admin_http import Auditor
from seatserver.errors import NotEligible
from seatserver.http.bodies import read_body
from seatserver.http.openapi import describe
from seatserver.http.params import path_id, query_of
from seatserver.http.responses import json_response
from seatserver.http.roles import BUYERS, Role, allow
from seatserver.reviews.models import (
    AdminReviewPage,
    AdminReviewQuery,
    ModeratedReview,
    Moderation,
    MyReview,
    ReviewEdit,
    ReviewInput,
    ReviewPage,
    ReviewQuery,
)
from seatserver.reviews.store import ReviewStore


def _reviewer(request: web.Request) -> int:
    """The caller's user id; a guest has no account to sign a review with."""
    identity = identity_of(request)
    if identity.kind == Role.GUEST.value:
        raise NotEligible("reviews need an account: sign up (your bookings come along) "
                          "and review then")
    return identity.user_id


class ReviewHandlers:
    def __init__(self, store: ReviewStore, auditor: Auditor) -> None:
        self._store = store
        self._auditor = auditor

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/movies/{movie}/reviews", self.visible),
            web.post("/api/movies/{movie}/reviews", self.create),
            web.get("/api/movies/{movie}/reviews/mine", self.mine),
            web.patch("/api/reviews/{review}", self.edit),
            web.get("/api/admin/reviews", self.moderated),
            web.patch("/api/admin/reviews/{review}", self.moderate),
        ]

    @allow(Role.ANONYMOUS)
    @describe("A movie's visible reviews, newest first, and its rating.",
              query=ReviewQuery, response=ReviewPage, errors=[404])
    async def visible(self, request: web.Request) -> web.Response:
        page = await self._store.visible(path_id(request, "movie"),
                                         query_of(request, ReviewQuery))
        return json_response(page)

    @allow(*BUYERS)
    @describe("Whether the caller may review the movie, and their review if any.",
              response=MyReview, errors=[404])
    async def mine(self, request: web.Request) -> web.Response:
        movie_id = path_id(request, "movie")
        identity = identity_of(request)
        if identity.kind == Role.GUEST.value:
            return json_response(MyReview(eligible=False, review=None))
        return json_response(await self._store.mine(identity.user_id, movie_id))

    @allow(*BUYERS)
    @describe("Review a movie one has seen (a booked showtime of it that is over); "
              "one review per person and movie.",
              body=ReviewInput, response=ModeratedReview, status=201,
              errors=[403, 404, 409, 422])
    async def create(self, request: web.Request) -> web.Response:
        movie_id = path_id(request, "movie")
        data = await read_body(request, ReviewInput)
        review = await self._store.create(_reviewer(request), movie_id, data)
        return json_response(review, 201)

    @allow(*BUYERS)
    @describe("Edit one's own review (stars, text or both).",
              body=ReviewEdit, response=ModeratedReview, errors=[403, 404, 422])
    async def edit(self, request: web.Request) -> web.Response:
        review_id = path_id(request, "review")
        data = await read_body(request, ReviewEdit)
        return json_response(await self._store.edit(_reviewer(request), review_id, data))

    @allow(Role.ADMIN)
    @describe("Every review, hidden ones too, newest first.",
              query=AdminReviewQuery, response=AdminReviewPage)
    async def moderated(self, request: web.Request) -> web.Response:
        return json_response(await self._store.moderated(query_of(request, AdminReviewQuery)))

    @allow(Role.ADMIN)
    @describe("Hide a review or show it again, with a reason (audited).",
              body=Moderation, response=ModeratedReview, errors=[404, 422])
    async def moderate(self, request: web.Request) -> web.Response:
        review_id = path_id(request, "review")
        change = await read_body(request, Moderation)
        review = await self._store.moderate(
            review_id, change, admin_id=identity_of(request).user_id,
            remote=self._auditor.address(request))
        return json_response(review)
