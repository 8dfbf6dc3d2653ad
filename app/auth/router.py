from __future__ import annotations

from fastapi import APIRouter, Response, status

from app import openapi
from app.auth import service
from app.auth.dependencies import AuthDep
from app.auth.schemas import LogoutRequest, RefreshRequest, TokenPair
from app.clock import Now
from app.db import DbSession
from app.openapi import answer, problems

# Registration and sign-in with a password are users' (app/users/router.py), under the same prefix.
router = APIRouter(prefix="/v1/auth", tags=["auth"])


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
