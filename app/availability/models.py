from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, SmallInteger, String
from sqlalchemy.dialects.postgresql import ARRAY, TSTZRANGE, ExcludeConstraint
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlmodel import Field, SQLModel

from app.db import created_at_field, id_field


def _spot_fk() -> Any:
    return Field(
        sa_column=Column(PG_UUID(as_uuid=True), ForeignKey("spots.id", ondelete="CASCADE"), nullable=False)
    )


class AvailabilityRule(SQLModel, table=True):
    """A weekly rule in the spot's local time (see booking.weekly for its exact meaning)."""

    __tablename__ = "availability_rules"
    __table_args__ = (
        CheckConstraint(
            "weekdays <@ array[0,1,2,3,4,5,6]::smallint[] and cardinality(weekdays) > 0", name="weekdays"
        ),
        CheckConstraint("start_minute between 0 and 1439 and end_minute between 0 and 1440", name="minutes"),
        CheckConstraint("end_minute <> start_minute", name="not_empty"),
        CheckConstraint(
            "valid_until is null or valid_from is null or valid_until >= valid_from", name="validity"
        ),
        Index("ix_availability_rules_spot_id", "spot_id", "created_at"),
    )

    id: uuid.UUID = id_field()
    spot_id: uuid.UUID = _spot_fk()
    weekdays: list[int] = Field(sa_column=Column(ARRAY(SmallInteger), nullable=False))
    start_minute: int = Field(sa_type=SmallInteger)
    end_minute: int = Field(sa_type=SmallInteger)
    valid_from: date | None = None
    valid_until: date | None = None
    created_at: datetime = created_at_field()


class AvailabilityWindow(SQLModel, table=True):
    """A one-off window in which the spot is offered."""

    __tablename__ = "availability_windows"
    __table_args__ = (
        CheckConstraint("not isempty(during) and lower_inc(during) and not upper_inc(during)", name="during"),
        Index("ix_availability_windows_spot_id_during", "spot_id", "during", postgresql_using="gist"),
    )

    id: uuid.UUID = id_field()
    spot_id: uuid.UUID = _spot_fk()
    during: Any = Field(sa_column=Column(TSTZRANGE, nullable=False))
    created_at: datetime = created_at_field()


class AvailabilityBlackout(SQLModel, table=True):
    """A time in which the spot is not offered, whatever the rules and windows say."""

    __tablename__ = "availability_blackouts"
    __table_args__ = (
        CheckConstraint("not isempty(during) and lower_inc(during) and not upper_inc(during)", name="during"),
        Index("ix_availability_blackouts_spot_id_during", "spot_id", "during", postgresql_using="gist"),
    )

    id: uuid.UUID = id_field()
    spot_id: uuid.UUID = _spot_fk()
    during: Any = Field(sa_column=Column(TSTZRANGE, nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(String(200)))
    created_at: datetime = created_at_field()


class SpotOpenRange(SQLModel, table=True):
    """(rules | windows) - blackouts of a spot, expanded over its horizon as disjoint ranges.

    Derived data, rewritten whenever the spot's availability changes and extended by a daily job,
    so that SQL can ask "open for the whole interval" as one indexed containment test.
    """

    __tablename__ = "spot_open_ranges"
    __table_args__ = (
        # The ranges of a spot are merged, so they never overlap; the constraint's GiST index also
        # serves containment searches.
        ExcludeConstraint(("spot_id", "="), ("during", "&&"), name="ex_spot_open_ranges_spot_id_during"),
        CheckConstraint("not isempty(during)", name="during"),
    )

    spot_id: uuid.UUID = Field(
        sa_column=Column(
            PG_UUID(as_uuid=True),
            ForeignKey("spots.id", ondelete="CASCADE"),
            primary_key=True,
            nullable=False,
        )
    )
    during: Any = Field(sa_column=Column(TSTZRANGE, primary_key=True, nullable=False))
