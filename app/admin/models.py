from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlmodel import Field, SQLModel

from app.db import id_field, timestamp_field

ACTIONS = (
    "user.suspend",
    "user.reinstate",
    "spot.unlist",
    "spot.relist",
    "admin.grant",
    "admin.revoke",
    "review.hide",
)
TARGET_TYPES = ("user", "spot", "review")


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


class AuditEntry(SQLModel, table=True):
    """One admin action: who (null: the command line), when, what, to what and why."""

    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint(f"action in ({_in(ACTIONS)})", name="action"),
        CheckConstraint(f"target_type in ({_in(TARGET_TYPES)})", name="target_type"),
        Index("ix_audit_log_at_id", "at", "id"),
    )

    id: uuid.UUID = id_field()
    at: datetime = timestamp_field()
    actor_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(
            PG_UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
        ),
    )
    action: str = Field(max_length=32)
    target_type: str = Field(max_length=16)
    target_id: uuid.UUID = Field(sa_type=PG_UUID(as_uuid=True), index=True)
    reason: str | None = Field(default=None, max_length=500)
    details: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column(JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    )
