from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth import service

bearer = HTTPBearer(auto_error=False, description="Access token from /v1/auth/login or /v1/auth/refresh.")

# The Authorization header, if any; `users.dependencies` turns it into the signed-in account.
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def get_auth(request: Request) -> service.Auth:
    auth: service.Auth = request.app.state.auth
    return auth


AuthDep = Annotated[service.Auth, Depends(get_auth)]
