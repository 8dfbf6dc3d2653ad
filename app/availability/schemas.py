from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, field_validator, model_validator

from app.schemas import RequestModel, ResponseModel, UtcDatetime
from booking.weekly import parse_clock

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Clock = Annotated[str, Field(examples=["08:00"], description="HH:MM in the spot's local time")]
LONGEST = timedelta(days=366)


class RuleCreate(RequestModel):
    weekdays: Annotated[list[Weekday], Field(min_length=1, max_length=7)]
    start_time: Clock
    end_time: Annotated[
        str,
        Field(examples=["18:00"], description="HH:MM; 24:00 is midnight; before start_time spans midnight"),
    ]
    valid_from: date | None = Field(default=None, description="First local date the rule applies (inclusive)")
    valid_until: date | None = Field(default=None, description="Last local date the rule applies (inclusive)")

    @field_validator("weekdays")
    @classmethod
    def _distinct(cls, value: list[Weekday]) -> list[Weekday]:
        if len(set(value)) != len(value):
            raise ValueError("each weekday at most once")
        return value

    @field_validator("start_time")
    @classmethod
    def _start(cls, value: str) -> str:
        parse_clock(value, allow_24=False)
        return value

    @field_validator("end_time")
    @classmethod
    def _end(cls, value: str) -> str:
        parse_clock(value, allow_24=True)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RuleCreate:
        if parse_clock(self.start_time, allow_24=False) == parse_clock(self.end_time, allow_24=True) % 1440:
            raise ValueError("end_time must differ from start_time")
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("valid_until must not be before valid_from")
        return self


class RuleOut(ResponseModel):
    id: uuid.UUID
    weekdays: list[Weekday]
    start_time: str
    end_time: str
    valid_from: date | None
    valid_until: date | None
    created_at: UtcDatetime


class _Span(RequestModel):
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> _Span:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.end - self.start > LONGEST:
            raise ValueError("at most 366 days at once")
        return self


class WindowCreate(_Span):
    pass


class BlackoutCreate(_Span):
    reason: Annotated[str, Field(max_length=200)] | None = None


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
