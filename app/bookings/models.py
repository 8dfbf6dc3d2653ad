from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    Enum,
    ForeignKey,
    Identity,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, ExcludeConstraint
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlmodel import Field, SQLModel

from app.db import created_at_field, id_field, timestamp_field
from booking.sql import ACTIVE_SQL, is_status
from booking.states import Status

# The PostgreSQL enum `booking_status`, labelled with the values of `booking.states.Status`.
BOOKING_STATUS = Enum(
    Status, name="booking_status", values_callable=lambda statuses: [s.value for s in statuses]
)


def _fk(target: str, *, nullable: bool = False, ondelete: str = "RESTRICT") -> Any:
    return Field(
        default=None if nullable else ...,
        sa_column=Column(PG_UUID(as_uuid=True), ForeignKey(target, ondelete=ondelete), nullable=nullable),
    )


ON_CONFLICT = ("fail", "skip")


class BookingSeries(SQLModel, table=True):
    """A commuter's weekly pattern booked at once (docs/api.md, "Series"). Its occurrences are
    ordinary bookings pointing here; the pattern is kept as asked, and the occurrences that were
    skipped (`on_conflict: skip`) are kept in `skipped` with their reasons, since no booking row
    stands for them. Its status is derived from its bookings, never stored."""

    __tablename__ = "booking_series"
    __table_args__ = (
        CheckConstraint(
            "weekdays <@ array[0,1,2,3,4,5,6]::smallint[] and cardinality(weekdays) > 0", name="weekdays"
        ),
        CheckConstraint("start_minute between 0 and 1439 and end_minute between 1 and 1440", name="times"),
        CheckConstraint("until_date >= from_date", name="dates"),
        CheckConstraint("on_conflict in ('fail', 'skip')", name="on_conflict"),
    )

    id: uuid.UUID = id_field()
    spot_id: uuid.UUID = Field(
        sa_column=Column(
            PG_UUID(as_uuid=True), ForeignKey("spots.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    driver_id: uuid.UUID = Field(
        sa_column=Column(
            PG_UUID(as_uuid=True), ForeignKey("users.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    vehicle_id: uuid.UUID | None = _fk("vehicles.id", nullable=True)
    weekdays: list[int] = Field(sa_column=Column(ARRAY(SmallInteger), nullable=False))  # 0 = Monday
    start_minute: int
    end_minute: int  # 1440 is 24:00; not after start_minute ends the next day
    from_date: date = Field(sa_column=Column(Date, nullable=False))
    until_date: date = Field(sa_column=Column(Date, nullable=False))  # inclusive
    on_conflict: str = Field(max_length=4)
    currency: str = Field(max_length=3)
    # [{start, end, reason_code, reason?, limit?}]: the occurrences not booked, as answered.
    skipped: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    )
    created_at: datetime = created_at_field()
    cancelled_at: datetime | None = timestamp_field(nullable=True)


class Booking(SQLModel, table=True):
    __tablename__ = "bookings"
    __table_args__ = (
        # The database itself refuses two active bookings of one spot that overlap: the last line
        # of defence behind the service's locked check (which also enforces the buffer).
        ExcludeConstraint(
            (Column("spot_id"), "="),
            (text("tstzrange(start_at, end_at, '[)')"), "&&"),
            where=text(ACTIVE_SQL),
            using="gist",
            name="ex_bookings_spot_id_during",
        ),
        CheckConstraint("end_at > start_at", name="interval"),
        CheckConstraint(
            f"status <> '{Status.held.value}' or hold_expires_at is not null", name="held_has_deadline"
        ),
        CheckConstraint(
            f"status <> '{Status.requested.value}' or request_expires_at is not null",
            name="requested_has_deadline",
        ),
        CheckConstraint(
            "total_cents >= 0 and (refund_cents is null or refund_cents between 0 and total_cents)",
            name="money",
        ),
        Index("ix_bookings_driver_id_start_at", "driver_id", "start_at", "id"),
        Index("ix_bookings_spot_id_start_at", "spot_id", "start_at", "id"),
        # A series' occurrences, in order; most bookings have none and stay out of it.
        Index(
            "ix_bookings_series_id_start_at",
            "series_id",
            "start_at",
            postgresql_where=text("series_id is not null"),
        ),
        # What the sweeper looks for, kept small by their conditions.
        Index(
            "ix_bookings_hold_expires_at", "hold_expires_at", postgresql_where=text(is_status(Status.held))
        ),
        Index(
            "ix_bookings_request_expires_at",
            "request_expires_at",
            postgresql_where=text(is_status(Status.requested)),
        ),
        Index("ix_bookings_end_at_confirmed", "end_at", postgresql_where=text(is_status(Status.confirmed))),
        Index(
            "ix_bookings_start_at_confirmed", "start_at", postgresql_where=text(is_status(Status.confirmed))
        ),
        # The overstays the scheduler watches (the next drivers to tell, the cap to complete at).
        Index(
            "ix_bookings_spot_id_end_at_overstayed",
            "spot_id",
            "end_at",
            postgresql_where=text(is_status(Status.overstayed)),
        ),
        CheckConstraint("overstay_cents >= 0", name="overstay_cents"),
    )

    id: uuid.UUID = id_field()
    spot_id: uuid.UUID = _fk("spots.id")
    driver_id: uuid.UUID = _fk("users.id")
    vehicle_id: uuid.UUID | None = _fk("vehicles.id", nullable=True)
    series_id: uuid.UUID | None = _fk("booking_series.id", nullable=True)
    start_at: datetime = timestamp_field()
    end_at: datetime = timestamp_field()
    status: Status = Field(sa_column=Column(BOOKING_STATUS, nullable=False))
    total_cents: int
    currency: str = Field(max_length=3)
    refund_cents: int | None = None
    hold_expires_at: datetime | None = timestamp_field(nullable=True)
    request_expires_at: datetime | None = timestamp_field(nullable=True)
    cancel_reason: str | None = Field(default=None, max_length=500)
    # The start and the end the reminders `booking.starts_soon` and `booking.ends_soon` were sent
    # for: each is sent once, and once more only when an extension moves the end.
    starts_soon_for: datetime | None = timestamp_field(nullable=True)
    ends_soon_for: datetime | None = timestamp_field(nullable=True)
    # At the spot (booking.visits). `overstay_cents` is charged on top of `total_cents`.
    checked_in_at: datetime | None = timestamp_field(nullable=True)
    checked_out_at: datetime | None = timestamp_field(nullable=True)
    overstay_cents: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    # When the driver was told that the car of the booking before theirs had overstayed: from then
    # on their cancellation refunds in full, whenever it is made.
    spot_occupied_at: datetime | None = timestamp_field(nullable=True)
    # The spot's at-the-spot rules when the booking was confirmed (`service.apply`): what the driver
    # agreed to. An owner's later change of the rules applies to later bookings only.
    grace_min: int | None = Field(default=None, sa_type=SmallInteger)
    overstay_hourly_cents: int | None = None
    check_in_required: bool | None = None
    no_show_after_min: int | None = Field(default=None, sa_type=SmallInteger)
    # Likewise the cancellation policy its refunds follow.
    cancellation_policy: str | None = Field(default=None, max_length=16)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class BookingEvent(SQLModel, table=True):
    """Every status change of a booking, written in the same transaction as the change."""

    __tablename__ = "booking_events"
    __table_args__ = (Index("ix_booking_events_booking_id_at", "booking_id", "at", "id"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    booking_id: uuid.UUID = _fk("bookings.id", ondelete="CASCADE")
    at: datetime = timestamp_field()
    kind: str = Field(max_length=32)  # booking.held, booking.confirmed, ...
    from_status: Status | None = Field(default=None, sa_column=Column(BOOKING_STATUS, nullable=True))
    to_status: Status = Field(sa_column=Column(BOOKING_STATUS, nullable=False))
    actor: str = Field(max_length=8)  # driver, owner, system
    by_user_id: uuid.UUID | None = _fk("users.id", nullable=True, ondelete="SET NULL")


class IdempotencyKey(SQLModel, table=True):
    """The first answer to a POST sent with an Idempotency-Key, replayed to retries."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_expires_at", "expires_at"),)

    user_id: uuid.UUID = Field(
        sa_column=Column(PG_UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    )
    key: str = Field(sa_column=Column(String(255), primary_key=True))
    request_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    status_code: int
    response: Any = Field(sa_column=Column(JSONB, nullable=False))
    created_at: datetime = created_at_field()
    expires_at: datetime = timestamp_field()
