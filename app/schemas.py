"""Shared request/response building blocks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from app.errors import NotFound

T = TypeVar("T")


class RequestModel(BaseModel):
    """Request bodies refuse unknown fields (API.md) instead of silently dropping them."""

    model_config = ConfigDict(extra="forbid")


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def _as_utc_z(value: datetime) -> str:
    if value.tzinfo is None:  # pragma: no cover - every stored time is timestamptz
        raise ValueError("naive datetime in a response")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# Times are answered in UTC with a `Z`, as API.md says.
UtcDatetime = Annotated[datetime, PlainSerializer(_as_utc_z, return_type=str, when_used="json")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


def parse_id(value: str, what: str) -> uuid.UUID:
    """Ids are opaque to clients: one that is not even well-formed is simply not found."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"no such {what}") from None
