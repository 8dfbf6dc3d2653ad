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
from app.users import service, tokens
from app.users.dependencies import AccessToken, CurrentUser
from app.users.schemas import (
    EmailChange,
    LoginRequest,
    MePatch,
    PasswordChange,
    PasswordResetConfirm,
    PasswordResetRequest,
    RegisterRequest,
    TokenRequest,
    UserOut,
    VehicleCreate,
    VehicleOut,
)

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
    description="A mail with a link to confirm the address is sent; until it is used, `email_verified` "
    "is false and the account cannot publish spots (403 `email_not_verified`). Too many registrations "
    "from one address within `RATE_LIMIT_WINDOW_SECONDS` answer 429 `rate_limited` with `Retry-After`.",
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
    await tokens.send_verification(session, auth.settings, user, now)
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


@sign_in_router.post(
    "/verify-email",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    operation_id="verifyEmail",
    responses=problems("invalid_token", "email_taken"),
    summary="Confirm an e-mail address with the token from the mail",
    description="The token comes from the link in the mail sent after registration or after asking "
    "for a new address (`POST /v1/me/email`); no sign-in is needed. It works once, for 48 hours; a "
    "used, expired or unknown token is 422 `invalid_token`. A new address counts from now on (the old "
    "one gets a notice), unless another account took it meanwhile (409 `email_taken`).",
)
async def verify_email(body: TokenRequest, session: DbSession, auth: AuthDep, now: Now) -> Response:
    await tokens.verify_email(session, auth.settings, body.token, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@sign_in_router.post(
    "/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    operation_id="requestPasswordReset",
    responses=problems("rate_limited"),
    summary="Ask for a password-reset link by mail",
    description="Always 202, whether or not an account has the address, so the answer tells no one "
    "who has an account. When one has (and is not suspended), a link valid once for one hour is "
    "mailed to it; at most 5 such mails an hour per account. Too many requests from one client "
    "address within `RATE_LIMIT_WINDOW_SECONDS` are 429 `rate_limited`.",
)
async def request_password_reset(
    body: PasswordResetRequest, request: Request, session: DbSession, auth: AuthDep, now: Now
) -> Response:
    limits = auth.settings
    window = timedelta(seconds=limits.rate_limit_window_seconds)
    key = f"reset-ip:{client_address(request)}"
    await ratelimit.hit(session, key, limits.password_resets_per_ip, window, now, "password resets")
    await tokens.request_password_reset(session, auth.settings, body.email, now)
    return Response(status_code=status.HTTP_202_ACCEPTED)


@sign_in_router.post(
    "/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    operation_id="confirmPasswordReset",
    responses=openapi.merge(problems("invalid_token"), openapi.SHORT_PASSWORD),
    summary="Set a new password with the token from the reset mail",
    description="Single use, valid one hour; a used, expired or unknown token is 422 `invalid_token`. "
    "Every sign-in of the account ends (all its tokens stop working), the address counts as "
    "verified, and a notice is mailed.",
)
async def confirm_password_reset(
    body: PasswordResetConfirm, session: DbSession, auth: AuthDep, now: Now
) -> Response:
    await tokens.confirm_password_reset(session, auth, token=body.token, password=body.password, now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


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
    "/verify-email",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    operation_id="resendVerification",
    responses=problems("conflict", "rate_limited"),
    summary="Send the address-confirmation mail again",
    description="A new link (the earlier ones stay valid until they expire). 409 `conflict` when the "
    "address is verified already; at most 5 mails an hour per account (429 `rate_limited`).",
)
async def resend_verification(user: CurrentUser, session: DbSession, auth: AuthDep, now: Now) -> Response:
    await tokens.resend_verification(session, auth.settings, user, now)
    return Response(status_code=status.HTTP_202_ACCEPTED)


@router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    operation_id="changePassword",
    responses=openapi.merge(problems("invalid_credentials", "rate_limited"), openapi.SHORT_PASSWORD),
    summary="Change the password",
    description="With the current password (a wrong one is 401 `invalid_credentials`, and counts "
    "against the limit of failed sign-ins). Every other sign-in of the account ends; this one goes "
    "on. A notice is mailed.",
)
async def change_password(
    body: PasswordChange, user: CurrentUser, claims: AccessToken, session: DbSession, auth: AuthDep, now: Now
) -> Response:
    await tokens.change_password(
        session,
        auth,
        user,
        password=body.password,
        new_password=body.new_password,
        keep_session=claims.session_id,
        now=now,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/email",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    operation_id="changeEmail",
    responses=problems("invalid_credentials", "email_taken", "rate_limited"),
    summary="Change the e-mail address",
    description="With the current password. A link is mailed to the new address; the account uses it "
    "once the link is opened (`POST /v1/auth/verify-email`), and the old address gets a notice. Until "
    "then nothing changes. 409 `email_taken` when another account has it.",
)
async def change_email(
    body: EmailChange, user: CurrentUser, session: DbSession, auth: AuthDep, now: Now
) -> Response:
    await tokens.request_email_change(session, auth, user, password=body.password, email=body.email, now=now)
    return Response(status_code=status.HTTP_202_ACCEPTED)


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
