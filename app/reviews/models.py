from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, SmallInteger, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlmodel import Field, SQLModel

from app.db import created_at_field, id_field, timestamp_field

# Who wrote the review: the driver reviews the spot (shown on it), the owner reviews the driver.
AUTHOR_ROLES = ("driver", "owner")
MAX_COMMENT = 1000


def _fk(target: str) -> uuid.UUID:
    value: uuid.UUID = Field(
        sa_column=Column(PG_UUID(as_uuid=True), ForeignKey(target, ondelete="RESTRICT"), nullable=False)
    )
    return value


class Review(SQLModel, table=True):
    """One party's review of the other after a booking, with the reviewed party's one reply.

    `visible_at` is when it is shown: the booking's end plus the review window, or the moment the
    second review of the booking was written, whichever comes first. Reads compare it with the
    request's clock, so no job has to publish anything."""

    __tablename__ = "reviews"
    __table_args__ = (
        # Once each, also when two requests race: the database has the last word.
        UniqueConstraint("booking_id", "author_role"),
        CheckConstraint("author_role in ('driver', 'owner')", name="author_role"),
        CheckConstraint("rating between 1 and 5", name="rating"),
        CheckConstraint(f"char_length(comment) <= {MAX_COMMENT}", name="comment"),
        CheckConstraint(f"char_length(reply_comment) <= {MAX_COMMENT}", name="reply_comment"),
        # An erased reply keeps its date, so that "once" still holds.
        CheckConstraint("reply_comment is null or replied_at is not null", name="reply"),
        # A spot's shown reviews and its rating: the drivers' reviews, newest shown first.
        Index(
            "ix_reviews_spot_id_visible_at",
            "spot_id",
            "visible_at",
            "id",
            postgresql_include=["rating"],
            postgresql_where=text("author_role = 'driver' and hidden_at is null"),
        ),
        # A driver's rating: the owners' reviews of them.
        Index(
            "ix_reviews_subject_id_visible_at",
            "subject_id",
            "visible_at",
            postgresql_include=["rating"],
            postgresql_where=text("author_role = 'owner' and hidden_at is null"),
        ),
        # The reviews an account wrote (export, erasure).
        Index("ix_reviews_author_id", "author_id"),
    )

    id: uuid.UUID = id_field()
    booking_id: uuid.UUID = _fk("bookings.id")
    # The booking's spot, kept here so that a spot's rating needs no join.
    spot_id: uuid.UUID = _fk("spots.id")
    author_id: uuid.UUID = _fk("users.id")
    # The reviewed party: the spot's owner for a driver's review, the driver for an owner's.
    subject_id: uuid.UUID = _fk("users.id")
    author_role: str = Field(max_length=8)
    rating: int = Field(sa_column=Column(SmallInteger, nullable=False))
    comment: str | None = Field(default=None, max_length=MAX_COMMENT)
    created_at: datetime = created_at_field()
    visible_at: datetime = timestamp_field()
    reply_comment: str | None = Field(default=None, max_length=MAX_COMMENT)
    replied_at: datetime | None = timestamp_field(nullable=True)
    # Hidden by an admin (why is in the audit log): out of the list and the averages.
    hidden_at: datetime | None = timestamp_field(nullable=True)
