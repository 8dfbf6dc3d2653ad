"""The outbox and what reads it: events, the dispatcher's position, webhooks, push subscriptions
and the deliveries to both (docs/events.md)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Identity,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlmodel import Field, SQLModel

from app.db import created_at_field, id_field, timestamp_field

# The transaction that wrote an event, as a number: events are read in (txid, seq) order, and
# only below the horizon (`parkshare_event_horizon()`, migration 0009), so no reader ever passes
# an event that commits later.
TXID_DEFAULT = text("(pg_current_xact_id()::text::bigint)")
DELIVERY_STATUSES = ("pending", "succeeded", "failed")


def _user_fk(*, nullable: bool, ondelete: str = "CASCADE") -> Any:
    return Field(
        default=None if nullable else ...,
        sa_column=Column(PG_UUID(as_uuid=True), ForeignKey("users.id", ondelete=ondelete), nullable=nullable),
    )


class Event(SQLModel, table=True):
    """One change worth telling: written in the transaction of the change, kept at least 7 days.

    `data` is what the driver (or the only recipient) receives; `owner_data`, when set, is the
    spot owner's view of the same change (the booking as GET answers it to them)."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("id"),
        Index("ix_events_txid_seq", "txid", "seq"),
        Index("ix_events_driver_id_txid_seq", "driver_id", "txid", "seq"),
        Index("ix_events_owner_id_txid_seq", "owner_id", "txid", "seq"),
        Index("ix_events_created_at", "created_at"),
        Index("ix_events_booking_id_seq", "booking_id", "seq"),
    )

    seq: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=Column(PG_UUID(as_uuid=True), nullable=False))
    txid: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=False, server_default=TXID_DEFAULT)
    )
    type: str = Field(max_length=40)
    version: int = Field(default=1, sa_column=Column(SmallInteger, nullable=False, server_default=text("1")))
    created_at: datetime = timestamp_field()
    booking_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(PG_UUID(as_uuid=True), ForeignKey("bookings.id", ondelete="CASCADE"), nullable=True),
    )
    driver_id: uuid.UUID | None = _user_fk(nullable=True, ondelete="SET NULL")
    owner_id: uuid.UUID | None = _user_fk(nullable=True, ondelete="SET NULL")
    # Set for an event meant for one webhook only (`webhook.test`): no stream or push sees it.
    webhook_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(PG_UUID(as_uuid=True), ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=True),
    )
    data: Any = Field(sa_column=Column(JSONB, nullable=False))
    owner_data: Any = Field(default=None, sa_column=Column(JSONB, nullable=True))


class EventCursor(SQLModel, table=True):
    """How far a reader of the outbox has come, for readers that must not read an event twice
    across processes (the dispatcher that turns events into deliveries)."""

    __tablename__ = "event_cursors"

    name: str = Field(sa_column=Column(String(40), primary_key=True))
    txid: int = Field(sa_column=Column(BigInteger, nullable=False))
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))


class Webhook(SQLModel, table=True):
    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_user_id_created_at", "user_id", "created_at"),)

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = _user_fk(nullable=False)
    url: str = Field(max_length=2000)
    events: list[str] = Field(sa_column=Column(ARRAY(String(40)), nullable=False))
    description: str | None = Field(default=None, max_length=500)
    enabled: bool = Field(
        default=True, sa_column=Column(Boolean, nullable=False, server_default=text("true"))
    )
    secret: str = Field(max_length=100)
    # After a rotation the old secret signs beside the new one until this time.
    previous_secret: str | None = Field(default=None, max_length=100)
    previous_secret_expires_at: datetime | None = timestamp_field(nullable=True)
    # Since when every attempt has failed; cleared by a success. Five days of it disable the webhook.
    failing_since: datetime | None = timestamp_field(nullable=True)
    disabled_at: datetime | None = timestamp_field(nullable=True)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class PushSubscription(SQLModel, table=True):
    __tablename__ = "push_subscriptions"
    __table_args__ = (UniqueConstraint("endpoint"), Index("ix_push_subscriptions_user_id", "user_id"))

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = _user_fk(nullable=False)
    endpoint: str = Field(max_length=2000)
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)
    created_at: datetime = created_at_field()


class Delivery(SQLModel, table=True):
    """One event to one webhook or one push subscription, with its attempts."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("seq"),
        CheckConstraint("(webhook_id is null) <> (push_subscription_id is null)", name="one_target"),
        CheckConstraint(f"status in {DELIVERY_STATUSES!r}", name="status"),
        Index(
            "ix_deliveries_next_attempt_at", "next_attempt_at", postgresql_where=text("status = 'pending'")
        ),
        # A later event of a booking waits for the earlier ones to the same target.
        Index(
            "ix_deliveries_webhook_id_order_key_seq",
            "webhook_id",
            "order_key",
            "seq",
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "ix_deliveries_push_subscription_id_order_key_seq",
            "push_subscription_id",
            "order_key",
            "seq",
            postgresql_where=text("status = 'pending'"),
        ),
        # A webhook's deliveries, newest first (GET /v1/me/webhooks/{id}/deliveries).
        Index("ix_deliveries_webhook_id_seq", "webhook_id", "seq"),
        Index("ix_deliveries_event_seq", "event_seq"),
    )

    id: uuid.UUID = id_field()
    seq: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), nullable=False))
    event_seq: int = Field(
        sa_column=Column(BigInteger, ForeignKey("events.seq", ondelete="CASCADE"), nullable=False)
    )
    webhook_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(PG_UUID(as_uuid=True), ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=True),
    )
    push_subscription_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(
            PG_UUID(as_uuid=True), ForeignKey("push_subscriptions.id", ondelete="CASCADE"), nullable=True
        ),
    )
    # The booking whose events to one target go out in order; null for events of no booking.
    order_key: uuid.UUID | None = Field(default=None, sa_column=Column(PG_UUID(as_uuid=True), nullable=True))
    status: str = Field(default="pending", max_length=16)
    attempts: Any = Field(
        default_factory=list, sa_column=Column(JSONB, nullable=False, server_default=text("'[]'"))
    )
    attempt_count: int = Field(
        default=0, sa_column=Column(SmallInteger, nullable=False, server_default=text("0"))
    )
    next_attempt_at: datetime | None = timestamp_field(nullable=True)
    # A process sending it holds it until then; past that, another may take it (a crash mid-send).
    leased_until: datetime | None = timestamp_field(nullable=True)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
