from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, ForeignKey, LargeBinary
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlmodel import Field, SQLModel

from app.db import created_at_field, id_field, timestamp_field


class LoginSession(SQLModel, table=True):
    """One sign-in: its refresh tokens form a family that is revoked together."""

    __tablename__ = "login_sessions"

    id: uuid.UUID = id_field()
    # The account is users' (app/users/models.py): named by its table only, since auth is the lowest
    # domain and imports none above it.
    user_id: uuid.UUID = Field(
        sa_column=Column(
            PG_UUID(as_uuid=True),
            ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    created_at: datetime = created_at_field()
    revoked_at: datetime | None = timestamp_field(nullable=True)
    revoked_reason: str | None = Field(default=None, max_length=32)


class RefreshToken(SQLModel, table=True):
    __tablename__ = "refresh_tokens"

    id: uuid.UUID = id_field()
    session_id: uuid.UUID = Field(
        sa_column=Column(
            PG_UUID(as_uuid=True),
            ForeignKey("login_sessions.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    # Only a hash is kept: a leaked table does not hand out working tokens.
    token_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False, unique=True))
    created_at: datetime = created_at_field()
    expires_at: datetime = timestamp_field()
    used_at: datetime | None = timestamp_field(nullable=True)
