"""The signed-in account, for every router: `CurrentUser` and `OptionalUser`, and the verified
token itself (`AccessToken`) for what must end with it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.auth import service as auth_service
from app.auth.dependencies import AuthDep, BearerCredentials
from app.auth.security import AccessClaims
from app.clock import Now
from app.db import DbSession
from app.errors import Unauthorized
from app.users import service
from app.users.models import User


async def access_claims(auth: AuthDep, credentials: BearerCredentials, now: Now) -> AccessClaims:
    """The request's access token, verified at the request's time. A route that reads it next to
    `CurrentUser` gets the same claims: FastAPI resolves a dependency once per request."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("sign in first: send Authorization: Bearer <access token>")
    return auth_service.verify(auth, credentials.credentials, now)


AccessToken = Annotated[AccessClaims, Depends(access_claims)]


# app/openapi.py recognises routes that read the caller by these two functions' names.
async def current_user(session: DbSession, claims: AccessToken) -> User:
    return await service.signed_in(session, claims)


CurrentUser = Annotated[User, Depends(current_user)]


async def optional_user(
    session: DbSession, auth: AuthDep, credentials: BearerCredentials, now: Now
) -> User | None:
    """Routes open to everyone that show more to some: no token is anonymous, a bad one is a 401."""
    if credentials is None:
        return None
    return await service.signed_in(session, await access_claims(auth, credentials, now))


OptionalUser = Annotated[User | None, Depends(optional_user)]
