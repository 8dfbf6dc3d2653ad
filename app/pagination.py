"""Keyset paging on (created_at, id) behind opaque cursors, for every list route."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import ValidationProblem

T = TypeVar("T")


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


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        after = datetime.fromisoformat(created_at), uuid.UUID(row_id)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise ValidationProblem.field(
            "cursor", "not a cursor this service issued", "cursor_invalid"
        ) from None
    if after[0].tzinfo is None:
        raise ValidationProblem.field("cursor", "not a cursor this service issued", "cursor_invalid")
    return after


async def paginate(
    session: AsyncSession, query: Select[tuple[T]], model: Any, params: PageParams
) -> tuple[list[T], str | None]:
    """One page of `query` (rows of `model`) in (created_at, id) order, and the next cursor."""
    if params.cursor is not None:
        query = query.where(tuple_(model.created_at, model.id) > decode_cursor(params.cursor))
    query = query.order_by(model.created_at, model.id).limit(params.limit + 1)
    rows = list((await session.scalars(query)).all())
    if len(rows) <= params.limit:
        return rows, None
    last: Any = rows[params.limit - 1]
    return rows[: params.limit], encode_cursor(last.created_at, last.id)
