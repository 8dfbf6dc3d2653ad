from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from app.schemas import Day, RequestModel, ResponseModel, TimeSpan, UtcDatetime, line
from booking.weekly import parse_clock

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ClockTime = Annotated[
    str, Field(max_length=5, strict=True, examples=["08:00"], description="HH:MM in the spot's local time")
]
LONGEST_SPAN = timedelta(days=366)


# The checks of a weekly pattern's fields (weekdays, start_time, end_time), for the models that
# have them to bind with `field_validator`.
def check_weekdays(cls: type, value: list[Weekday]) -> list[Weekday]:
    if len(set(value)) != len(value):
        raise ValueError("each weekday at most once")
    return value


def check_start_time(cls: type, value: str) -> str:
    parse_clock(value, allow_24=False)
    return value


def check_end_time(cls: type, value: str, info: ValidationInfo) -> str:
    end = parse_clock(value, allow_24=True)
    start = info.data.get("start_time")
    if start is not None and parse_clock(start, allow_24=False) == end:
        raise ValueError("end_time must differ from start_time")
    return value


class RuleCreate(RequestModel):
    weekdays: Annotated[list[Weekday], Field(min_length=1, max_length=7)]
    start_time: ClockTime
    end_time: Annotated[
        str,
        Field(
            max_length=5,
            strict=True,
            examples=["18:00"],
            description="HH:MM; 24:00 is midnight; before start_time spans midnight",
        ),
    ]
    valid_from: Day | None = Field(default=None, description="First local date the rule applies (inclusive)")
    valid_until: Day | None = Field(default=None, description="Last local date the rule applies (inclusive)")

    # The checks of a weekly pattern, shared with commuter series (app/bookings/series_schemas.py).
    _distinct = field_validator("weekdays")(check_weekdays)
    _start = field_validator("start_time")(check_start_time)
    _end = field_validator("end_time")(check_end_time)

    @field_validator("valid_until")
    @classmethod
    def _after_valid_from(cls, value: date | None, info: ValidationInfo) -> date | None:
        valid_from = info.data.get("valid_from")
        if value is not None and valid_from is not None and value < valid_from:
            raise ValueError("valid_until must not be before valid_from")
        return value


class RuleOut(ResponseModel):
    id: uuid.UUID
    weekdays: list[Weekday]
    start_time: str
    end_time: str
    valid_from: date | None
    valid_until: date | None
    created_at: UtcDatetime


class _Span(TimeSpan):
    longest = LONGEST_SPAN


class WindowCreate(_Span):
    pass


class BlackoutCreate(_Span):
    reason: Annotated[str, line(200)] | None = None


class WindowOut(ResponseModel):
    id: uuid.UUID
    start: UtcDatetime
    end: UtcDatetime
    created_at: UtcDatetime


class BlackoutOut(WindowOut):
    reason: str | None


class FreeInterval(ResponseModel):
    start: UtcDatetime
    end: UtcDatetime


class AvailabilityOut(ResponseModel):
    spot_id: uuid.UUID
    timezone: str
    free: list[FreeInterval]
