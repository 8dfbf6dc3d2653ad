"""Shared request/response building blocks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, ClassVar, Generic, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from app.errors import NotFound

T = TypeVar("T")


class RequestModel(BaseModel):
    """Request bodies refuse unknown fields (API.md) instead of silently dropping them."""

    model_config = ConfigDict(extra="forbid")


class TimeSpan(RequestModel):
    """A request's `[start, end)`: timezone-aware times, the end after the start."""

    start: AwareDatetime
    end: AwareDatetime
    longest: ClassVar[timedelta | None] = None

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is not None and value <= start:
            raise ValueError("end must be after start")
        if start is not None and cls.longest is not None and value - start > cls.longest:
            raise ValueError(f"at most {cls.longest.days} days at once")
        return value


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def _as_utc_z(value: datetime) -> str:
    if value.tzinfo is None:  # pragma: no cover - every stored time is timestamptz
        raise ValueError("naive datetime in a response")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# Times are answered in UTC with a `Z`, as API.md says. The serializer returns a plain str, so the
# answer schema says so explicitly: clients generate typed dates only from `format: date-time`.
UtcDatetime = Annotated[
    datetime,
    PlainSerializer(_as_utc_z, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


def parse_id(value: str, what: str) -> uuid.UUID:
    """Ids are opaque to clients: one that is not even well-formed is simply not found."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"no such {what}") from None
