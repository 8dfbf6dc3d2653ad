from __future__ import annotations

import uuid
from datetime import datetime

from geoalchemy2 import Geography
from sqlalchemy import Boolean, CheckConstraint, Column, Computed, Float, ForeignKey, Index, text
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlmodel import Field, SQLModel

from app.db import created_at_field, id_field, timestamp_field

CANCELLATION_POLICIES = ("flexible", "moderate", "strict")


class Spot(SQLModel, table=True):
    __tablename__ = "spots"
    __table_args__ = (
        CheckConstraint("lat between -90 and 90 and lon between -180 and 180", name="coordinates"),
        CheckConstraint("hourly_cents > 0", name="hourly_cents"),
        CheckConstraint("daily_cap_cents is null or daily_cap_cents > 0", name="daily_cap_cents"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        CheckConstraint("(ev_connector is null) = (ev_power_kw is null)", name="ev_charger"),
        CheckConstraint(
            "cancellation_policy in ('flexible', 'moderate', 'strict')", name="cancellation_policy"
        ),
        CheckConstraint(
            "granularity_min > 0 and min_duration_min >= granularity_min"
            " and max_duration_min >= min_duration_min and lead_time_min >= 0"
            " and horizon_days > 0 and buffer_min >= 0",
            name="rules",
        ),
        CheckConstraint("reveal_before_min between 0 and 1440", name="reveal_before_min"),
        CheckConstraint(
            "grace_min between 0 and 120 and no_show_after_min between 5 and 1440"
            " and (overstay_hourly_cents is null or overstay_hourly_cents > 0)",
            name="at_the_spot",
        ),
        Index("ix_spots_location", "location", postgresql_using="gist"),
        Index("ix_spots_public_location", "public_location", postgresql_using="gist"),
        Index(
            "ix_spots_owner_id", "owner_id", "created_at", "id", postgresql_where=text("deleted_at is null")
        ),
    )

    id: uuid.UUID = id_field()
    owner_id: uuid.UUID = Field(
        sa_column=Column(PG_UUID(as_uuid=True), ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    title: str = Field(max_length=120)
    description: str | None = Field(default=None, max_length=2000)

    street: str = Field(max_length=120)
    house_number: str = Field(max_length=16)
    postal_code: str = Field(max_length=10)
    city: str = Field(max_length=80)
    district: str | None = Field(default=None, max_length=80)

    lat: float = Field(sa_column=Column(Float(precision=53), nullable=False))
    lon: float = Field(sa_column=Column(Float(precision=53), nullable=False))
    # Derived by the database from lat/lon, so the two can never disagree; searched by distance.
    location: object | None = Field(
        default=None,
        sa_column=Column(
            Geography(geometry_type="POINT", srid=4326, spatial_index=False),
            Computed("(st_setsrid(st_makepoint(lon, lat), 4326))::geography", persisted=True),
            nullable=False,
        ),
    )
    # What search measures from: the location as the public view shows it (3 decimals, about
    # 100 m), so distances and the radius filter never reveal more than that view does. Rounded
    # like `app.spots.service.public_coordinate`.
    public_location: object | None = Field(
        default=None,
        sa_column=Column(
            Geography(geometry_type="POINT", srid=4326, spatial_index=False),
            Computed(
                "(st_setsrid(st_makepoint(round(lon::numeric, 3)::double precision,"
                " round(lat::numeric, 3)::double precision), 4326))::geography",
                persisted=True,
            ),
            nullable=False,
        ),
    )
    timezone: str = Field(default="Europe/Berlin", max_length=64)

    covered: bool = False
    ev_connector: str | None = Field(default=None, max_length=16)
    ev_power_kw: float | None = None
    wheelchair_accessible: bool = False
    lit: bool = False
    max_length_cm: int | None = None
    max_width_cm: int | None = None
    max_height_cm: int | None = None
    access_instructions: str | None = Field(default=None, max_length=1000)

    hourly_cents: int
    daily_cap_cents: int | None = None
    currency: str = Field(default="EUR", max_length=3)

    granularity_min: int = 15
    min_duration_min: int = 30
    max_duration_min: int = 43_200
    lead_time_min: int = 0
    horizon_days: int = 90
    buffer_min: int = 0
    instant_book: bool = True
    cancellation_policy: str = Field(default="flexible", max_length=16)
    # A driver sees the house number and access instructions from this long before a confirmed
    # booking starts until it ends.
    reveal_before_min: int = Field(default=60, sa_column_kwargs={"server_default": text("60")})
    # At the spot (booking.visits): leaving up to `grace_min` after the end costs nothing; later
    # the overstay is charged at `overstay_hourly_cents`, or 1.5 times `hourly_cents` while it is
    # null (so the default follows a new price). With `check_in_required`, a booking without a
    # check-in `no_show_after_min` after its start is a no-show.
    grace_min: int = Field(default=10, sa_column_kwargs={"server_default": text("10")})
    overstay_hourly_cents: int | None = None
    check_in_required: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false"))
    )
    no_show_after_min: int = Field(default=30, sa_column_kwargs={"server_default": text("30")})

    # Bumped on every change of the spot itself; the ETag.
    version: int = 1
    # How far `spot_open_ranges` is computed; the daily job extends it.
    open_ranges_until: datetime | None = timestamp_field(nullable=True)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
    deleted_at: datetime | None = timestamp_field(nullable=True)
    # Set by an admin (app/admin/): out of search and the public view, takes no new bookings; its
    # confirmed bookings stay. Why is in the audit log.
    unlisted_at: datetime | None = timestamp_field(nullable=True)
    # Unlisted by its owner's suspension, not on its own: relisted when the owner is reinstated.
    unlisted_with_owner: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false"))
    )
