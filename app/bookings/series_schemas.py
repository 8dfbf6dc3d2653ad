"""Requests and answers of commuter series (docs/api.md, "Series")."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator

from app.availability.schemas import ClockTime, Weekday, check_end_time, check_start_time, check_weekdays
from app.bookings.schemas import IntervalReasonName, ReasonName, StatusName
from app.schemas import Day, RequestModel, ResponseModel, UtcDatetime, line, token

OnConflict = Literal["fail", "skip"]


class SeriesRequest(RequestModel):
    """A weekly pattern in the spot's local time: one occurrence on each date from `from` to
    `until` (both included, the spot's local dates) whose weekday is listed, from `start_time` to
    `end_time`. At most 92 dates and 100 occurrences."""

    spot_id: Annotated[str, token(64)] = Field(description="The spot's id")
    weekdays: Annotated[list[Weekday], Field(min_length=1, max_length=7)] = Field(
        description="The weekdays an occurrence starts on, each at most once"
    )
    start_time: ClockTime
    end_time: Annotated[
        str,
        Field(
            max_length=5,
            strict=True,
            examples=["18:00"],
            description="HH:MM in the spot's local time; 24:00 is midnight; not after start_time ends "
            "the next day (overnight), as in the availability rules",
        ),
    ]
    from_: Day = Field(alias="from", description="The first local date (inclusive)")
    until: Day = Field(description="The last local date an occurrence starts on (inclusive)")
    vehicle_id: Annotated[str, token(64)] | None = Field(
        default=None, description="One of your vehicles; checked against the spot's size limits"
    )
    on_conflict: OnConflict = Field(
        description="`fail`: book every occurrence or none (409 `series_conflict` naming those that "
        "cannot be booked); `skip`: book those that can be and list the others as skipped"
    )

    _distinct = field_validator("weekdays")(check_weekdays)
    _start = field_validator("start_time")(check_start_time)
    _end = field_validator("end_time")(check_end_time)


class SeriesCancelRequest(RequestModel):
    reason: Annotated[str, line(500)] | None = None


class OccurrenceOut(ResponseModel):
    start: UtcDatetime
    end: UtcDatetime
    booking_id: uuid.UUID | None = Field(description="The occurrence's booking; null when it was skipped")
    status: StatusName | None = Field(
        description="The booking's status as it stands now (a hold past its deadline reads `expired`); "
        "null when skipped"
    )
    skipped_reason: ReasonName | None = Field(
        description="Why the occurrence was not booked (a `reason_code`); null when it was booked"
    )
    reason: IntervalReasonName | None = Field(
        default=None, description="With `skipped_reason` `invalid_interval`: the rule it breaks"
    )
    limit: int | str | None = Field(default=None, description="With `reason`: the rule's limit")


class SeriesOut(ResponseModel):
    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True, from_attributes=True)

    id: uuid.UUID
    spot_id: uuid.UUID
    driver_id: uuid.UUID
    vehicle_id: uuid.UUID | None
    status: StatusName = Field(
        description="Derived from the occurrences' statuses as they stand now: `held` while one awaits "
        "the driver's confirmation, else `requested` while one awaits the owner, else `confirmed` "
        "while one is confirmed, else `completed` when one was used; with none active or "
        "completed left, `expired` or `declined` when every one did that, else `cancelled`"
    )
    weekdays: list[Weekday]
    start_time: str
    end_time: str
    from_: date = Field(alias="from")
    until: date
    timezone: str = Field(description="The spot's time zone the pattern is read in")
    on_conflict: OnConflict
    occurrences: list[OccurrenceOut] = Field(description="Booked and skipped, in time order")
    total_cents: int = Field(description="The sum of the booked occurrences' `total_cents`")
    refund_cents: int = Field(description="The sum of the occurrences' refunds so far")
    currency: str
    created_at: UtcDatetime
    cancelled_at: UtcDatetime | None = Field(description="When the series was cancelled; null before")


class OccurrenceQuote(ResponseModel):
    start: UtcDatetime
    end: UtcDatetime
    bookable: bool
    reason_code: ReasonName | None
    reason: IntervalReasonName | None = Field(default=None, description="As in a quote")
    limit: int | str | None = Field(default=None, description="As in a quote")
    total_cents: int = Field(description="The occurrence's price; 0 when its interval is invalid")


class SeriesQuoteOut(ResponseModel):
    spot_id: uuid.UUID
    bookable: bool = Field(
        description="Whether booking with this `on_conflict` would succeed: every occurrence "
        "bookable for `fail`, at least one for `skip`"
    )
    occurrences: list[OccurrenceQuote]
    total_cents: int = Field(description="The sum over the bookable occurrences")
    currency: str
    cancellation_policy: str
