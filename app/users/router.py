from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from app.auth.dependencies import CurrentUser
from app.auth.schemas import UserOut
from app.clock import Now
from app.db import DbSession
from app.errors import problem_openapi
from app.openapi import problems
from app.pagination import PageParams, page_params
from app.schemas import Page, parse_id
from app.users import service
from app.users.schemas import MePatch, VehicleCreate, VehicleOut

router = APIRouter(prefix="/v1/me", tags=["me"], responses=problem_openapi(401))


@router.get("", response_model=UserOut, operation_id="getMe", summary="The signed-in account")
async def get_me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)


@router.patch("", response_model=UserOut, operation_id="updateMe", summary="Change name or phone")
async def patch_me(body: MePatch, user: CurrentUser, session: DbSession, now: Now) -> UserOut:
    return UserOut.model_validate(await service.update_me(session, user, body, now))


@router.post(
    "/vehicles",
    status_code=status.HTTP_201_CREATED,
    response_model=VehicleOut,
    operation_id="addVehicle",
    summary="Register a vehicle",
)
async def add_vehicle(body: VehicleCreate, user: CurrentUser, session: DbSession, now: Now) -> VehicleOut:
    return VehicleOut.model_validate(await service.add_vehicle(session, user, body, now))


@router.get(
    "/vehicles",
    response_model=Page[VehicleOut],
    operation_id="listMyVehicles",
    summary="My vehicles",
)
async def list_vehicles(
    user: CurrentUser, session: DbSession, page: Annotated[PageParams, Depends(page_params)]
) -> Page[VehicleOut]:
    vehicles, next_cursor = await service.list_vehicles(session, user, page)
    return Page[VehicleOut](items=[VehicleOut.model_validate(v) for v in vehicles], next_cursor=next_cursor)


@router.delete(
    "/vehicles/{vehicle_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    operation_id="removeVehicle",
    responses=problems("not_found"),
    summary="Remove a vehicle",
)
async def remove_vehicle(vehicle_id: str, user: CurrentUser, session: DbSession, now: Now) -> Response:
    await service.remove_vehicle(session, user, parse_id(vehicle_id, "vehicle"), now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
