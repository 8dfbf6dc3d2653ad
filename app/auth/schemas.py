from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import EmailStr, Field, StringConstraints

from app.schemas import RequestModel, ResponseModel, UtcDatetime, line, token

Password = token(256, min_length=10)
DisplayName = line(80)
RefreshTokenValue = token(512)
Email = Annotated[EmailStr, Field(max_length=254)]


class RegisterRequest(RequestModel):
    email: Email
    password: Password
    display_name: DisplayName


class LoginRequest(RequestModel):
    email: Email
    # Compared with the stored hash, never stored: whatever an older version let an account set
    # must still sign in.
    password: Annotated[str, StringConstraints(min_length=1, max_length=256, strict=True)]


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
