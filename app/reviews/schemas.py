from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field

from app.reviews.models import MAX_COMMENT
from app.schemas import RequestModel, ResponseModel, StrictInt, UtcDatetime, text


class ReviewCreate(RequestModel):
    rating: Annotated[StrictInt, Field(ge=1, le=5, description="1 (worst) to 5 (best)")]
    comment: Annotated[str, text(MAX_COMMENT)] | None = None


class ReplyCreate(RequestModel):
    comment: Annotated[str, text(MAX_COMMENT)]


class ReviewAuthor(ResponseModel):
    display_name: str


class ReplyOut(ResponseModel):
    comment: str | None = Field(description="null once its author deleted their account")
    created_at: UtcDatetime


class ReviewOut(ResponseModel):
    """A review as everyone who may read it sees it: the author by display name only."""

    id: uuid.UUID
    booking_id: uuid.UUID
    spot_id: uuid.UUID
    author_role: Literal["driver", "owner"] = Field(
        description="`driver`: the driver's review of the spot (listed on the spot); `owner`: the "
        "owner's review of the driver (counted in the driver's rating, its text shown only to the "
        "booking's two parties)"
    )
    author: ReviewAuthor
    rating: int
    comment: str | None = Field(description="null when none was written, or its author deleted their account")
    created_at: UtcDatetime
    visible_at: UtcDatetime = Field(
        description="From when others see it: when the other party reviewed too, or 14 days after the "
        "booking's end, whichever comes first"
    )
    reply: ReplyOut | None = Field(description="The reviewed party's one answer")


class ReviewList(ResponseModel):
    items: list[ReviewOut]
