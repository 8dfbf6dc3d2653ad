from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from app import openapi
from app.bookings.idempotency import idempotent
from app.clock import Now
from app.db import DbSession
from app.errors import NotFound
from app.openapi import answer, problems, request_example
from app.pagination import PageParams, page_params
from app.reviews import service
from app.reviews.schemas import ReplyCreate, ReviewCreate, ReviewList, ReviewOut
from app.schemas import Page
from app.spots.dependencies import ValidSpot
from app.users.dependencies import CurrentUser, OptionalUser

router = APIRouter(tags=["reviews"])


@router.post(
    "/v1/bookings/{booking_id}/review",
    status_code=status.HTTP_201_CREATED,
    response_model=ReviewOut,
    operation_id="reviewBooking",
    responses=openapi.merge(
        answer(201, openapi.REVIEW),
        problems(
            "not_found",
            "conflict",
            "invalid_transition",
            "review_window_closed",
            "idempotency_in_progress",
            "idempotency_key_reused",
        ),
    ),
    openapi_extra=request_example(openapi.REVIEW_CREATE),
    summary="Review a completed booking (its driver or the spot's owner, once each)",
    description="The driver reviews the spot (listed on it and counted in its `rating`); the owner "
    "reviews the driver (counted in the driver's `driver_rating`, its text shown only to the "
    "booking's two parties). Open from the booking's end (a confirmed booking past its end counts as "
    "completed) until 14 days later: before, 409 `invalid_transition`; after, 409 "
    "`review_window_closed`. A second review by the same party is 409 `conflict`. Anyone else gets "
    "404 `not_found`, as for the booking itself. The review is hidden from others until the other "
    "party has reviewed too or the 14 days are over (`visible_at`), so that neither answers the "
    "other's.",
)
@idempotent(201)
async def review_booking(
    booking_id: str, body: ReviewCreate, user: CurrentUser, session: DbSession, now: Now
) -> ReviewOut:
    return await service.create(session, user, booking_id, body, now)


@router.get(
    "/v1/bookings/{booking_id}/reviews",
    response_model=ReviewList,
    operation_id="listBookingReviews",
    responses=openapi.merge(answer(200, openapi.BOOKING_REVIEWS), problems("not_found")),
    summary="A booking's reviews (its driver or the spot's owner)",
    description="Your own review always; the other party's once it is shown (`visible_at`); hidden "
    "ones never. This is where a driver finds the owner's review of them, to answer it. Anyone "
    "else gets 404 `not_found`.",
)
async def booking_reviews(booking_id: str, user: CurrentUser, session: DbSession, now: Now) -> ReviewList:
    return ReviewList(items=await service.of_booking(session, user, booking_id, now))


@router.get(
    "/v1/spots/{spot_id}/reviews",
    response_model=Page[ReviewOut],
    operation_id="listSpotReviews",
    responses=openapi.merge(answer(200, openapi.REVIEW_PAGE), problems("not_found")),
    openapi_extra=openapi.PUBLIC,
    summary="The drivers' reviews of a spot (public)",
    description="Shown reviews only (`visible_at` passed, not hidden by an admin), the most recently "
    "shown first, each with the owner's reply. Authors appear by display name only. A withdrawn spot, "
    "or one an admin unlisted, is 404 `not_found` as in `GET /v1/spots/{spot_id}` (its owner and "
    "admins still read an unlisted one's).",
)
async def spot_reviews(
    spot: ValidSpot,
    user: OptionalUser,
    session: DbSession,
    now: Now,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[ReviewOut]:
    if spot.unlisted_at is not None and (user is None or (user.id != spot.owner_id and user.role != "admin")):
        raise NotFound("no such spot")
    items, next_cursor = await service.list_for_spot(session, spot, page, now)
    return Page[ReviewOut](items=items, next_cursor=next_cursor)


@router.post(
    "/v1/reviews/{review_id}/reply",
    response_model=ReviewOut,
    operation_id="replyToReview",
    responses=openapi.merge(
        answer(200, openapi.REPLIED_REVIEW), problems("not_found", "forbidden", "conflict")
    ),
    openapi_extra=request_example(openapi.REPLY_CREATE),
    summary="Answer a review of you (the reviewed party, once)",
    description="The spot's owner answers a driver's review of the spot; the driver answers the "
    "owner's review of them. Only once the review is shown: before, and for a review you may not "
    "read, 404 `not_found`; someone else who can read it (its author, anyone for a spot's review) "
    "gets 403 `forbidden`; a second answer is 409 `conflict`. Answers the review with its reply.",
)
async def reply_to_review(
    review_id: str, body: ReplyCreate, user: CurrentUser, session: DbSession, now: Now
) -> ReviewOut:
    return await service.reply(session, user, review_id, body, now)
