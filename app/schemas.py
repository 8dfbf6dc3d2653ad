"""Shared request/response building blocks."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from app.errors import NotFound, ValidationProblem

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


class PageParams(BaseModel):
    limit: int
    cursor: str | None


def page_params(
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 20,
    cursor: Annotated[
        str | None, Query(max_length=512, description="Opaque cursor from `next_cursor`.")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


def encode_cursor(*values: Any) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else str(v) for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != arity or not all(isinstance(v, str) for v in values):
        raise ValidationProblem.field("cursor", "not a cursor this service issued", "cursor_invalid")
    return values


def parse_id(value: str, what: str) -> uuid.UUID:
    """Ids are opaque to clients: one that is not even well-formed is simply not found."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"no such {what}") from None
