from __future__ import annotations

from fastapi import APIRouter, Response, status

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
from app.db import DbSession
from app.errors import problem_openapi

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses=problem_openapi(409, 422),
    summary="Create an account",
)
async def register(body: RegisterRequest, session: DbSession, auth: AuthDep) -> UserOut:
    user = await service.register(
        session, auth, email=body.email, password=body.password, display_name=body.display_name
    )
    return UserOut.model_validate(user)


@router.post("/login", response_model=TokenPair, responses=problem_openapi(401, 422), summary="Sign in")
async def login(body: LoginRequest, session: DbSession, auth: AuthDep) -> TokenPair:
    issued = await service.login(session, auth, email=body.email, password=body.password)
    return TokenPair(
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        expires_in=issued.expires_in,
    )


@router.post(
    "/refresh",
    response_model=TokenPair,
    responses=problem_openapi(401, 422),
    summary="Trade a refresh token for a new pair",
    description="Refresh tokens rotate: each works once. Presenting a used one ends the whole sign-in "
    "(every token of its family, and the access tokens issued with them).",
)
async def refresh(body: RefreshRequest, session: DbSession, auth: AuthDep) -> TokenPair:
    issued = await service.refresh(session, auth, refresh_token=body.refresh_token)
    return TokenPair(
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        expires_in=issued.expires_in,
    )


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_openapi(422),
    summary="End a sign-in",
    description="Revokes the refresh token's family and the access tokens issued with it. The refresh "
    "token is the credential here, so an expired access token does not stand in the way; an unknown or "
    "already dead token answers 204 too.",
)
async def logout(body: LogoutRequest, session: DbSession) -> Response:
    await service.logout(session, refresh_token=body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
