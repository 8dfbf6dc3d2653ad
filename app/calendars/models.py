"""Calendar feed tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, LargeBinary, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlmodel import Field, SQLModel

from app.db import created_at_field, id_field


class CalendarToken(SQLModel, table=True):
    """The secret of a calendar feed URL, stored hashed: a spot's (for its owner) or a driver's."""

    __tablename__ = "calendar_tokens"
    __table_args__ = (
        UniqueConstraint("token_hash"),
        Index(
            "uq_calendar_tokens_spot_id", "spot_id", unique=True, postgresql_where=text("spot_id is not null")
        ),
        Index("uq_calendar_tokens_user_id", "user_id", unique=True, postgresql_where=text("spot_id is null")),
    )

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = Field(
        sa_column=Column(PG_UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    spot_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(PG_UUID(as_uuid=True), ForeignKey("spots.id", ondelete="CASCADE"), nullable=True),
    )
    token_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = created_at_field()
