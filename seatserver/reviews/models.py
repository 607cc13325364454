"""What the reviews routes take and hand out.

Inputs are pydantic models (validated at the edge, and the OpenAPI schemas of
the routes); outputs are frozen dataclasses written by ``orjson`` in field order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)

from seatserver.catalog.models import Rating
from seatserver.catalog.queries import PAGE_DEFAULT, PAGE_MAX
from seatserver.db import MAX_ID

MAX_TEXT = 2000
MAX_REASON = 500


def _not_blank(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


Stars = Annotated[StrictInt, Field(ge=1, le=5, description="1 (poor) to 5 (excellent).")]
Text = Annotated[StrictStr, Field(max_length=MAX_TEXT,
                                  description=f"Trimmed; 1 to {MAX_TEXT} characters."),
                 AfterValidator(_not_blank)]
Reason = Annotated[StrictStr, Field(max_length=MAX_REASON), AfterValidator(_not_blank)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReviewInput(_Input):
    """A new review of a movie the caller has seen."""

    stars: Stars
    text: Text


class ReviewEdit(_Input):
    """The author's change: fields left out stay as they are."""

    stars: Stars | None = None
    text: Text | None = None

    @model_validator(mode="after")
    def _something(self) -> ReviewEdit:
        if self.stars is None and self.text is None:
            raise ValueError("give stars, text or both")
        return self


class Moderation(_Input):
    """An admin hides or shows a review again, saying why (kept in the audit log)."""

    hidden: StrictBool
    reason: Reason


class ReviewQuery(_Input):
    limit: int = Field(default=PAGE_DEFAULT, ge=1, le=PAGE_MAX,
                       description=f"Reviews per page, at most {PAGE_MAX}.")
    cursor: str | None = Field(default=None, max_length=200,
                               description="`next_cursor` of the previous page.")


class AdminReviewQuery(ReviewQuery):
    movie: int | None = Field(default=None, ge=1, le=MAX_ID, description="A movie id.")
    hidden: bool | None = Field(default=None, description="Only hidden (or only shown) ones.")


@dataclass(frozen=True, slots=True)
class Review:
    id: int
    movie_id: int
    # The author's name, when their account has one; never the e-mail address.
    author: str | None
    stars: int
    text: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ModeratedReview(Review):
    """A review as admins see it: whose, and whether and why it is hidden."""

    user_id: int
    hidden: bool
    hidden_reason: str | None


@dataclass(frozen=True, slots=True)
class ReviewPage:
    rating: Rating
    reviews: list[Review]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class AdminReviewPage:
    reviews: list[ModeratedReview]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class MyReview:
    """What the movie's page needs for its form: may the caller review, and their review."""

    eligible: bool
    review: ModeratedReview | None
