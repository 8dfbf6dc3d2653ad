from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Text, text
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlmodel import Field, SQLModel

from app.db import created_at_field, id_field, timestamp_field

KINDS = ("verify_email", "confirm_new_email", "password_reset", "password_changed", "email_changed")


class Mail(SQLModel, table=True):
    """One message in the outbox. The body (its links carry single-use tokens) is kept only until
    the message is sent or given up; what was sent to whom and when stays for the account's export."""

    __tablename__ = "mails"
    __table_args__ = (
        CheckConstraint(f"kind in ({', '.join(repr(k) for k in KINDS)})", name="kind"),
        # What the sender looks at every few seconds: only what is still to send.
        Index(
            "ix_mails_due",
            "next_attempt_at",
            postgresql_where=text("sent_at is null and failed_at is null"),
        ),
    )

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = Field(
        sa_column=Column(
            PG_UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    kind: str = Field(max_length=32)
    to_address: str = Field(max_length=254)
    subject: str = Field(max_length=200)
    body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = created_at_field()
    next_attempt_at: datetime = timestamp_field()
    attempts: int = 0
    sent_at: datetime | None = timestamp_field(nullable=True)
    failed_at: datetime | None = timestamp_field(nullable=True)
    last_error: str | None = Field(default=None, max_length=300)
