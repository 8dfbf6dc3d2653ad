from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from app.schemas import RequestModel, ResponseModel, token

RefreshTokenValue = Annotated[str, token(512)]


class RefreshRequest(RequestModel):
    refresh_token: RefreshTokenValue


class LogoutRequest(RequestModel):
    refresh_token: RefreshTokenValue


class TokenPair(ResponseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a scheme name, not a secret)
    expires_in: int = Field(description="Seconds until the access token expires.")
