from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Response, status

from app import openapi
from app.auth.dependencies import AuthDep
from app.clock import Now
from app.db import DbSession
from app.errors import NotFound
from app.openapi import answer, problems
from app.pagination import PageParams, page_params
from app.replica import ReadSession
from app.schemas import Page, Rating
from app.spots import hooks, service
from app.spots.dependencies import LockedOwnedSpot, PublicSpot
from app.spots.schemas import SpotCreate, SpotOut
from app.users import tokens
from app.users.dependencies import CurrentUser, OptionalUser

router = APIRouter(tags=["spots"])


def _with_etag(status_code: int, example: Any, *codes: str) -> dict[int | str, dict[str, Any]]:
    return openapi.merge(answer(status_code, example, headers=openapi.ETAG), problems(*codes))


# The body is parsed by hand (a merge patch); this documents it as the schema it is merged into.
PATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            openapi.MERGE_PATCH: {
                "schema": {"$ref": "#/components/schemas/SpotPatch"},
                "example": openapi.SPOT_PATCH,
            },
            # Its examples are the body parameter's own.
            "application/json": {"schema": {"$ref": "#/components/schemas/SpotPatch"}},
        },
    }
}


PATCH_DESCRIPTION = """
A JSON merge patch (RFC 7396) of the spot as `POST /v1/spots` takes it: name only what changes,
nested objects merge (`{"rules": {"buffer_min": 15}}` keeps the other rules), `null` clears an
optional field. The result is validated as a whole. Send the `ETag` of your last read as
`If-Match` to be refused with 412 if someone changed the spot since.
"""


@router.post(
    "/v1/spots",
    status_code=status.HTTP_201_CREATED,
    response_model=SpotOut,
    operation_id="createSpot",
    responses=openapi.merge(
        _with_etag(201, openapi.SPOT),
        {201: {"headers": {"Location": {"description": "The spot's URL", "schema": {"type": "string"}}}}},
        problems("email_not_verified"),
    ),
    openapi_extra=openapi.request_example(openapi.SPOT_CREATE),
    summary="Publish a spot",
    description="Only accounts whose e-mail address is verified publish spots (403 "
    "`email_not_verified`), unless the operator turned that rule off (`REQUIRE_EMAIL_VERIFICATION`).",
)
async def create_spot(
    body: SpotCreate, user: CurrentUser, session: DbSession, response: Response, now: Now, auth: AuthDep
) -> SpotOut:
    tokens.require_verified(auth.settings, user)
    spot = await service.create(session, user, body, now)
    response.headers["ETag"] = service.etag(spot)
    response.headers["Location"] = f"/v1/spots/{spot.id}"
    # Nobody has reviewed a spot that did not exist a moment ago.
    return service.to_out(spot, full=True, rating=Rating.none())


@router.get(
    "/v1/spots/{spot_id}",
    response_model=SpotOut,
    operation_id="getSpot",
    responses=_with_etag(200, openapi.PUBLIC_SPOT, "not_found"),
    openapi_extra=openapi.PUBLIC,
    summary="A spot: the full view for its owner, the public view for everyone else",
    description="A driver with a confirmed booking of the spot gets the full view from "
    "`rules.reveal_before_min` minutes before its start until its end. A spot an admin unlisted is "
    "404 `not_found` for everyone but its owner, admins and drivers with a confirmed booking of it "
    "that has not ended (public view until the booking reveals it)." + openapi.FROM_REPLICA,
)
async def get_spot(
    spot: PublicSpot, user: OptionalUser, session: ReadSession, response: Response, now: Now
) -> SpotOut:
    full = await service.sees_everything(session, spot, user, now)
    # An unlisted spot (docs/api.md, "Moderation") answers only its owner, admins and drivers with
    # a confirmed booking of it that has not ended; everyone else finds no such spot.
    if (
        spot.unlisted_at is not None
        and not full
        and (user is None or (user.role != "admin" and not await hooks.booked(session, spot, user, now)))
    ):
        raise NotFound("no such spot")
    response.headers["ETag"] = service.etag(spot)
    return service.to_out(spot, full=full, rating=await service.rating(session, spot, now))


@router.patch(
    "/v1/spots/{spot_id}",
    response_model=SpotOut,
    operation_id="updateSpot",
    responses=_with_etag(200, openapi.SPOT, "forbidden", "not_found", "precondition_failed"),
    openapi_extra=PATCH_BODY,
    summary="Change a spot (owner)",
    description=PATCH_DESCRIPTION,
)
async def patch_spot(
    spot: LockedOwnedSpot,
    session: DbSession,
    response: Response,
    now: Now,
    body: Annotated[
        dict[str, Any], Body(openapi_examples={"price": {"value": {"pricing": {"hourly_cents": 300}}}})
    ],
    if_match: Annotated[str | None, Header(description="ETag from a previous read")] = None,
) -> SpotOut:
    spot = await service.patch(session, spot, body, if_match, now)
    response.headers["ETag"] = service.etag(spot)
    return service.to_out(spot, full=True, rating=await service.rating(session, spot, now))


@router.delete(
    "/v1/spots/{spot_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    operation_id="deleteSpot",
    responses=problems("forbidden", "not_found", "spot_has_bookings"),
    summary="Withdraw a spot (owner)",
)
async def delete_spot(
    spot: LockedOwnedSpot,
    session: DbSession,
    user: CurrentUser,
    now: Now,
    cancel_bookings: Annotated[
        bool, Query(description="Cancel confirmed future bookings with a full refund instead of refusing")
    ] = False,
) -> Response:
    await service.withdraw(session, spot, user, now, cancel_bookings=cancel_bookings)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/v1/me/spots",
    response_model=Page[SpotOut],
    operation_id="listMySpots",
    summary="My spots",
    tags=["me"],
)
async def my_spots(
    user: CurrentUser, session: DbSession, now: Now, page: Annotated[PageParams, Depends(page_params)]
) -> Page[SpotOut]:
    spots, next_cursor = await service.list_owned(session, user, page)
    ratings = await hooks.ratings(session, [s.id for s in spots], now)
    return Page[SpotOut](
        items=[service.to_out(s, full=True, rating=ratings[s.id]) for s in spots], next_cursor=next_cursor
    )
