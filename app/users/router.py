from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from app import openapi, ratelimit
from app.auth.dependencies import AuthDep
from app.auth.schemas import TokenPair
from app.clock import Now
from app.db import DbSession
from app.errors import problem_openapi
from app.openapi import answer, problems, request_example
from app.pagination import PageParams, page_params
from app.schemas import Page, parse_id
from app.users import service
from app.users.dependencies import CurrentUser
from app.users.schemas import LoginRequest, MePatch, RegisterRequest, UserOut, VehicleCreate, VehicleOut

router = APIRouter(prefix="/v1/me", tags=["me"], responses=problem_openapi(401))

# Creating an account and signing in with its password: under /v1/auth with auth's own routes
# (refresh, logout), which know accounts only by id.
sign_in_router = APIRouter(prefix="/v1/auth", tags=["auth"])


@sign_in_router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    operation_id="register",
    responses=openapi.merge(
        answer(201, openapi.USER), problems("email_taken", "rate_limited"), openapi.SHORT_PASSWORD
    ),
    openapi_extra=request_example(openapi.REGISTER_REQUEST),
    summary="Create an account",
    description="Too many registrations from one address within `RATE_LIMIT_WINDOW_SECONDS` answer 429 "
    "`rate_limited` with `Retry-After`.",
)
async def register(
    body: RegisterRequest, request: Request, session: DbSession, auth: AuthDep, now: Now
) -> UserOut:
    limits = auth.settings
    window = timedelta(seconds=limits.rate_limit_window_seconds)
    await ratelimit.hit(
        session,
        f"register:{client_address(request)}",
        limits.registrations_per_ip,
        window,
        now,
        "registrations",
    )
    user = await service.register(
        session, auth, now, email=body.email, password=body.password, display_name=body.display_name
    )
    return UserOut.model_validate(user)


@sign_in_router.post(
    "/login",
    response_model=TokenPair,
    operation_id="login",
    responses=openapi.merge(
        answer(200, openapi.TOKENS), problems("invalid_credentials", "account_suspended", "rate_limited")
    ),
    openapi_extra=request_example(openapi.LOGIN_REQUEST),
    summary="Sign in",
    description="After too many failed sign-ins for one email, or too many attempts from one address, "
    "within `RATE_LIMIT_WINDOW_SECONDS`, the answer is 429 `rate_limited` with `Retry-After`.",
)
async def login(
    body: LoginRequest, request: Request, session: DbSession, auth: AuthDep, now: Now
) -> TokenPair:
    limits = auth.settings
    window = timedelta(seconds=limits.rate_limit_window_seconds)
    email_key = f"login-email:{body.email.lower()}"
    await ratelimit.check(session, email_key, limits.login_failures_per_email, window, now, "failed sign-ins")
    await ratelimit.hit(
        session,
        f"login-ip:{client_address(request)}",
        limits.login_attempts_per_ip,
        window,
        now,
        "sign-in attempts",
    )
    try:
        issued = await service.login(session, auth, now, email=body.email, password=body.password)
    except service.InvalidCredentials:
        await ratelimit.add(session, email_key, window, now)
        raise
    return TokenPair(
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        expires_in=issued.expires_in,
    )


def client_address(request: Request) -> str:
    # uvicorn's proxy_headers puts the forwarded address here when the proxy is trusted
    # (FORWARDED_ALLOW_IPS); otherwise it is the peer's.
    return request.client.host if request.client else "unknown"


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
