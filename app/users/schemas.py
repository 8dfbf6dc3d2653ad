from __future__ import annotations

import re
import uuid
from typing import Annotated

from pydantic import EmailStr, Field, StringConstraints, field_validator

from app.schemas import RequestModel, ResponseModel, StrictBool, StrictInt, UtcDatetime, line, token

Password = Annotated[str, token(256, min_length=10)]
DisplayName = Annotated[str, line(80)]
Email = Annotated[EmailStr, Field(max_length=254)]

# E.164: a plus, a country code and at most 15 digits in all.
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=32, pattern=r"^\+[1-9][0-9]{6,14}$", strict=True)
]

_PLATE = re.compile(r"^[A-ZÄÖÜ0-9]+(?:[ -][A-ZÄÖÜ0-9]+)*$")


class RegisterRequest(RequestModel):
    email: Email
    password: Password
    display_name: DisplayName


class LoginRequest(RequestModel):
    email: Email
    # Compared with the stored hash, never stored: whatever an older version let an account set
    # must still sign in.
    password: Annotated[str, StringConstraints(min_length=1, max_length=256, strict=True)]


class UserOut(ResponseModel):
    id: uuid.UUID
    email: str
    display_name: str
    phone: str | None
    email_verified: bool = Field(
        description="Whether the address is confirmed (the link in the mail sent after registration); "
        "until then the account cannot publish spots, unless the operator turned that rule off."
    )
    role: str
    created_at: UtcDatetime
    updated_at: UtcDatetime


# A token from a mail: `secrets.token_urlsafe(32)` is 43 characters; longer is never one of ours.
MailToken = Annotated[str, StringConstraints(min_length=1, max_length=128, strict=True)]
# A password that is checked, not set (see LoginRequest).
CurrentPassword = Annotated[str, StringConstraints(min_length=1, max_length=256, strict=True)]


class TokenRequest(RequestModel):
    token: MailToken


class PasswordResetRequest(RequestModel):
    email: Email


class PasswordResetConfirm(RequestModel):
    token: MailToken
    password: Password


class PasswordChange(RequestModel):
    password: CurrentPassword = Field(description="The current password.")
    new_password: Password


class EmailChange(RequestModel):
    email: Email = Field(description="The new address; a link is sent there, and it counts once used.")
    password: CurrentPassword = Field(description="The current password.")


class MePatch(RequestModel):
    display_name: DisplayName | None = None
    phone: Phone | None = Field(default=None, description="E.164, e.g. +4923112345678; null removes it.")


class VehicleCreate(RequestModel):
    license_plate: Annotated[str, line(16), Field(examples=["DO-PS 1234"])]
    length_cm: Annotated[StrictInt, Field(ge=100, le=2000)] | None = None
    width_cm: Annotated[StrictInt, Field(ge=50, le=400)] | None = None
    height_cm: Annotated[StrictInt, Field(ge=50, le=500)] | None = None
    electric: StrictBool = False

    @field_validator("license_plate")
    @classmethod
    def _normalise_plate(cls, value: str) -> str:
        plate = " ".join(value.upper().split())
        if not _PLATE.fullmatch(plate):
            raise ValueError("letters and digits, separated by single spaces or hyphens")
        return plate


class VehicleOut(ResponseModel):
    id: uuid.UUID
    license_plate: str
    length_cm: int | None
    width_cm: int | None
    height_cm: int | None
    electric: bool
    created_at: UtcDatetime
