from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, LargeBinary, text
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlmodel import Field, SQLModel

from app.db import created_at_field, id_field, timestamp_field

ROLES = ("user", "admin")


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role in ('user', 'admin')", name="role"),)

    id: uuid.UUID = id_field()
    # Stored lower-cased, so the unique constraint is case-insensitive.
    email: str = Field(max_length=254, unique=True)
    password_hash: str = Field(max_length=255)
    display_name: str = Field(max_length=80)
    phone: str | None = Field(default=None, max_length=20)
    role: str = Field(default="user", max_length=16)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
    # When the account proved it reads mail at `email` (a link from app/users/tokens.py).
    email_verified_at: datetime | None = timestamp_field(nullable=True)
    # Set by an admin (app/admin/): the account cannot sign in until reinstated; why is in the audit log.
    suspended_at: datetime | None = timestamp_field(nullable=True)

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


class Vehicle(SQLModel, table=True):
    __tablename__ = "vehicles"
    __table_args__ = (
        CheckConstraint("length_cm is null or length_cm between 100 and 2000", name="length_cm"),
        CheckConstraint("width_cm is null or width_cm between 50 and 400", name="width_cm"),
        CheckConstraint("height_cm is null or height_cm between 50 and 500", name="height_cm"),
        # A plate once per driver among the vehicles not removed; removed ones stay for old bookings.
        Index(
            "uq_vehicles_owner_id_license_plate",
            "owner_id",
            "license_plate",
            unique=True,
            postgresql_where=text("deleted_at is null"),
        ),
    )

    id: uuid.UUID = id_field()
    owner_id: uuid.UUID = Field(
        sa_column=Column(
            PG_UUID(as_uuid=True),
            ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    license_plate: str = Field(max_length=16)
    length_cm: int | None = None
    width_cm: int | None = None
    height_cm: int | None = None
    electric: bool = False
    created_at: datetime = created_at_field()
    deleted_at: datetime | None = timestamp_field(nullable=True)


TOKEN_PURPOSES = ("verify_email", "password_reset")


class AccountToken(SQLModel, table=True):
    """A single-use link sent by mail: to verify an address (the account's, or the new one it is
    changing to: `email`) or to reset the password. Only a hash is kept."""

    __tablename__ = "account_tokens"
    __table_args__ = (CheckConstraint("purpose in ('verify_email', 'password_reset')", name="purpose"),)

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = Field(
        sa_column=Column(
            PG_UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    purpose: str = Field(max_length=16)
    token_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False, unique=True))
    email: str = Field(max_length=254)
    created_at: datetime = created_at_field()
    expires_at: datetime = timestamp_field()
    used_at: datetime | None = timestamp_field(nullable=True)
