from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response, status

from app import openapi, ratelimit
from app.auth import service
from app.auth.dependencies import AuthDep
from app.auth.schemas import (
    LoginRequest,
    LogoutRequest,
    RefreshRequest,
    RegisterRequest,
    TokenPair,
    UserOut,
)
from app.clock import Now
from app.db import DbSession
from app.openapi import answer, problems, request_example

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post(
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


@router.post(
    "/login",
    response_model=TokenPair,
    operation_id="login",
    responses=openapi.merge(answer(200, openapi.TOKENS), problems("invalid_credentials", "rate_limited")),
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


@router.post(
    "/refresh",
    response_model=TokenPair,
    operation_id="refreshTokens",
    responses=openapi.merge(answer(200, openapi.TOKENS), problems("unauthorized")),
    summary="Trade a refresh token for a new pair",
    description="Refresh tokens rotate: each works once. Presenting a used one ends the whole sign-in "
    "(every token of its family, and the access tokens issued with them).",
)
async def refresh(body: RefreshRequest, session: DbSession, auth: AuthDep, now: Now) -> TokenPair:
    issued = await service.refresh(session, auth, now, refresh_token=body.refresh_token)
    return TokenPair(
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        expires_in=issued.expires_in,
    )


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    operation_id="logout",
    summary="End a sign-in",
    description="Revokes the refresh token's family and the access tokens issued with it. The refresh "
    "token is the credential here, so an expired access token does not stand in the way; an unknown or "
    "already dead token answers 204 too.",
)
async def logout(body: LogoutRequest, session: DbSession, now: Now) -> Response:
    await service.logout(session, now, refresh_token=body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def client_address(request: Request) -> str:
    # uvicorn's proxy_headers puts the forwarded address here when the proxy is trusted
    # (FORWARDED_ALLOW_IPS); otherwise it is the peer's.
    return request.client.host if request.client else "unknown"
