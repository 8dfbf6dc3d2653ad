"""Moderation routes under `/v1/admin` (docs/api.md, "Moderation"): administrators only; anyone
else signed in is 403 `forbidden`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from app import openapi
from app.admin import service
from app.admin.schemas import AuditEntryOut, ModeratedReview, ModeratedSpot, ModeratedUser, ReasonRequest
from app.clock import Now
from app.db import DbSession
from app.openapi import answer, problems, request_example
from app.pagination import PageParams, page_params
from app.schemas import Page, parse_id
from app.users.dependencies import CurrentUser
from app.users.models import User


async def admin_user(user: CurrentUser) -> User:
    return service.require_admin(user)


Admin = Annotated[User, Depends(admin_user)]

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=problems("forbidden"))


@router.post(
    "/users/{user_id}/suspend",
    response_model=ModeratedUser,
    operation_id="suspendUser",
    responses=openapi.merge(answer(200, openapi.SUSPENDED_USER), problems("not_found", "conflict")),
    openapi_extra=request_example(openapi.MODERATION_REASON),
    summary="Suspend an account",
    description="The account cannot sign in (401 `account_suspended`), every sign-in of it ends at "
    "once (its access and refresh tokens answer 401), and its holds and requests as driver are "
    "cancelled without charge (`booking.cancelled`, by `system`); its confirmed bookings stay. "
    "Suspending an account twice, or yourself, is 409 `conflict`. Written to the audit log.",
)
async def suspend_user(
    user_id: str, body: ReasonRequest, admin: Admin, session: DbSession, now: Now
) -> ModeratedUser:
    return await service.suspend(session, admin, parse_id(user_id, "user"), body.reason, now)


@router.post(
    "/users/{user_id}/reinstate",
    response_model=ModeratedUser,
    operation_id="reinstateUser",
    responses=openapi.merge(answer(200, openapi.REINSTATED_USER), problems("not_found", "conflict")),
    summary="Reinstate a suspended account",
    description="The account can sign in again (its old sign-ins stay ended). An account that is not "
    "suspended is 409 `conflict`. Written to the audit log.",
)
async def reinstate_user(user_id: str, admin: Admin, session: DbSession, now: Now) -> ModeratedUser:
    return await service.reinstate(session, admin, parse_id(user_id, "user"), now)


@router.post(
    "/spots/{spot_id}/unlist",
    response_model=ModeratedSpot,
    operation_id="unlistSpot",
    responses=openapi.merge(answer(200, openapi.UNLISTED_SPOT), problems("not_found", "conflict")),
    openapi_extra=request_example(openapi.MODERATION_REASON),
    summary="Unlist a spot",
    description="The spot leaves search and is 404 for everyone but its owner, admins and drivers "
    "with a confirmed booking of it that has not ended; quotes and new bookings of it are 404 `not_found`. Its holds "
    "and requests are cancelled without charge; its confirmed bookings stay. Unlisting twice is 409 "
    "`conflict`. Written to the audit log.",
)
async def unlist_spot(
    spot_id: str, body: ReasonRequest, admin: Admin, session: DbSession, now: Now
) -> ModeratedSpot:
    return await service.unlist(session, admin, parse_id(spot_id, "spot"), body.reason, now)


@router.post(
    "/spots/{spot_id}/relist",
    response_model=ModeratedSpot,
    operation_id="relistSpot",
    responses=openapi.merge(answer(200, openapi.RELISTED_SPOT), problems("not_found", "conflict")),
    summary="List an unlisted spot again",
    description="The spot is found and bookable again. A spot that is not unlisted is 409 `conflict`. "
    "Written to the audit log.",
)
async def relist_spot(spot_id: str, admin: Admin, session: DbSession, now: Now) -> ModeratedSpot:
    return await service.relist(session, admin, parse_id(spot_id, "spot"), now)


@router.post(
    "/reviews/{review_id}/hide",
    response_model=ModeratedReview,
    operation_id="hideReview",
    responses=openapi.merge(answer(200, openapi.HIDDEN_REVIEW), problems("not_found", "conflict")),
    openapi_extra=request_example(openapi.HIDE_REASON),
    summary="Hide a review",
    description="The review leaves the spot's list of reviews, the booking's, and every rating "
    "(the spot's `rating`, the driver's `driver_rating`); it is kept, with its reply, for the record. "
    "Hiding it twice is 409 `conflict`. Written to the audit log with the reason.",
)
async def hide_review(
    review_id: str, body: ReasonRequest, admin: Admin, session: DbSession, now: Now
) -> ModeratedReview:
    return await service.hide_review(session, admin, parse_id(review_id, "review"), body.reason, now)


@router.get(
    "/audit",
    response_model=Page[AuditEntryOut],
    operation_id="listAuditLog",
    responses=answer(200, openapi.AUDIT_PAGE),
    summary="The audit log",
    description="Every admin action, newest first: who (the admin's id and display name; null for "
    "the command line), when, what, to which user, spot or review, and why. No e-mails, tokens, passwords "
    "or access instructions.",
)
async def list_audit(
    _: Admin, session: DbSession, page: Annotated[PageParams, Depends(page_params)]
) -> Page[AuditEntryOut]:
    items, next_cursor = await service.audit(session, page)
    return Page[AuditEntryOut](items=items, next_cursor=next_cursor)
