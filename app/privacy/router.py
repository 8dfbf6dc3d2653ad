"""The account's own data: `GET /v1/me/export` and `DELETE /v1/me` (docs/api.md, "The signed-in
account")."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from app import openapi
from app.auth.dependencies import AuthDep
from app.clock import Now
from app.db import DbSession
from app.errors import problem_openapi
from app.openapi import answer, problems, request_example
from app.privacy import service
from app.privacy.schemas import AccountExport, EraseRequest
from app.users.dependencies import CurrentUser

router = APIRouter(prefix="/v1/me", tags=["me"], responses=problem_openapi(401))


@router.get(
    "/export",
    response_model=AccountExport,
    operation_id="exportMyData",
    responses=answer(200, openapi.ACCOUNT_EXPORT),
    summary="Everything stored about me",
    description="The whole account as one JSON document (GDPR Art. 15 and 20): profile, vehicles, "
    "spots with their availability, bookings as driver and as owner with their history, webhooks "
    "(without secrets), push subscriptions (without keys), sign-ins with their times (never a "
    "token), calendar feeds (that they exist, never their URL) and the events addressed to the "
    "account that are still kept. `not_exported` names what else is stored and why it is not here.",
)
async def export_me(user: CurrentUser, session: DbSession, now: Now) -> AccountExport:
    return await service.export(session, user, now)


@router.delete(
    "",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    operation_id="deleteMe",
    responses=problems("invalid_credentials"),
    openapi_extra=request_example(openapi.ERASE_REQUEST),
    summary="Delete my account",
    description="Erases the account (GDPR Art. 17) in one transaction, after the current password: "
    "the caller's active bookings as driver are cancelled under the spot's cancellation policy; "
    "their spots are withdrawn and those spots' future bookings cancelled with a full refund, "
    "and the drivers get `booking.cancelled`. Then the e-mail, name, phone, plates, the spots' "
    "addresses, exact locations and access instructions, webhooks, push subscriptions, calendar "
    "feeds and sign-ins are erased: every token stops working at once, and the e-mail address can "
    'register again. Bookings stay, tied to a pseudonymous "Deleted user", for the other party\'s '
    "history and for bookkeeping. A wrong password is 401 `invalid_credentials` and changes nothing.",
)
async def delete_me(
    body: EraseRequest, user: CurrentUser, session: DbSession, auth: AuthDep, now: Now
) -> Response:
    await service.erase(session, auth, user, body.password, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
