from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import EmailStr, Field, StringConstraints

from app.schemas import RequestModel, ResponseModel, UtcDatetime

Password = Annotated[str, Field(min_length=10, max_length=256)]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
RefreshTokenValue = Annotated[str, Field(min_length=1, max_length=512)]


class RegisterRequest(RequestModel):
    email: EmailStr = Field(max_length=254)
    password: Password
    display_name: DisplayName


class LoginRequest(RequestModel):
    email: EmailStr = Field(max_length=254)
    password: Annotated[str, Field(min_length=1, max_length=256)]


class RefreshRequest(RequestModel):
    refresh_token: RefreshTokenValue


class LogoutRequest(RequestModel):
    refresh_token: RefreshTokenValue


class TokenPair(ResponseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a scheme name, not a secret)
    expires_in: int = Field(description="Seconds until the access token expires.")


class UserOut(ResponseModel):
    id: uuid.UUID
    email: str
    display_name: str
    phone: str | None
    role: str
    created_at: UtcDatetime
    updated_at: UtcDatetime
