from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth import service
from app.auth.models import User
from app.clock import Now
from app.db import DbSession
from app.errors import Unauthorized

_bearer = HTTPBearer(auto_error=False, description="Access token from /v1/auth/login or /v1/auth/refresh.")


async def get_auth(request: Request) -> service.Auth:
    auth: service.Auth = request.app.state.auth
    return auth


AuthDep = Annotated[service.Auth, Depends(get_auth)]


async def current_user(
    session: DbSession,
    auth: AuthDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    now: Now,
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("sign in first: send Authorization: Bearer <access token>")
    return await service.authenticate(session, auth, credentials.credentials, now)


CurrentUser = Annotated[User, Depends(current_user)]


async def optional_user(
    session: DbSession,
    auth: AuthDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    now: Now,
) -> User | None:
    """Routes open to everyone that show more to some: no token is anonymous, a bad one is a 401."""
    if credentials is None:
        return None
    return await current_user(session, auth, credentials, now)


OptionalUser = Annotated[User | None, Depends(optional_user)]
