"""Keyset paging on (a timestamp, id) behind opaque cursors, for every list route."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import ValidationProblem
from app.schemas import EARLIEST_YEAR, LATEST_YEAR

T = TypeVar("T")


class PageParams(BaseModel):
    limit: int
    cursor: str | None


async def page_params(
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 20,
    cursor: Annotated[
        str | None, Query(max_length=512, description="Opaque cursor from `next_cursor`.")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


def encode_cursor(position: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([position.isoformat(), str(row_id)])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    invalid = ValidationProblem.field(
        "cursor", "not a cursor this service issued", "cursor_invalid", where="query"
    )
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        when = datetime.fromisoformat(position)
        if when.tzinfo is None:
            raise ValueError("a naive position")
        # A cursor is client input: a position at the calendar's edge (year 1 or 9999 with an
        # offset) would overflow on its way to PostgreSQL, a 500 rather than a 422.
        after = when.astimezone(UTC), uuid.UUID(row_id)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, OverflowError):
        raise invalid from None
    if not EARLIEST_YEAR <= after[0].year <= LATEST_YEAR:
        raise invalid
    return after


async def paginate(
    session: AsyncSession,
    query: Select[T],
    model: Any,
    params: PageParams,
    *,
    order_by: str = "created_at",
) -> tuple[list[T], str | None]:
    """One page of `query` (rows of `model`) in (`order_by`, id) order, and the next cursor.
    `order_by` names a timestamp column; the id breaks ties."""
    position = getattr(model, order_by)
    if params.cursor is not None:
        query = query.where(tuple_(position, model.id) > decode_cursor(params.cursor))
    query = query.order_by(position, model.id).limit(params.limit + 1)
    rows = list((await session.scalars(query)).all())
    if len(rows) <= params.limit:
        return rows, None
    last: Any = rows[params.limit - 1]
    return rows[: params.limit], encode_cursor(getattr(last, order_by), last.id)
