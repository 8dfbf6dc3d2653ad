"""`Idempotency-Key` for the POST routes that create or change bookings (docs/api.md, "retries").

The first request with a key runs while holding a transaction-scoped advisory lock on (user, key):
a retry arriving meanwhile, in any process, fails to take the lock and gets 409
`idempotency_in_progress`. The answer, success or refusal, is stored with a hash of the request in
the same transaction as the work it describes, so a retry after the commit replays exactly that
answer and nothing is done twice; a retry of a request that crashed finds nothing stored and runs
again. Refusals run in a savepoint so their partial work is undone while their answer is kept.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.bookings.models import IdempotencyKey
from app.errors import Conflict, ProblemError, ValidationProblem, problem_body
from app.users.models import User

REPLAYED_HEADER = "Idempotent-Replayed"


class KeyReused(ProblemError):
    status = 422
    code = "idempotency_key_reused"


class InProgress(Conflict):
    code = "idempotency_in_progress"


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        # The same instant written with another offset is the same request.
        return value.astimezone(UTC).isoformat()
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def fingerprint(request: Request, body: BaseModel | None) -> bytes:
    """The method, the path and the validated body in a canonical form: every field with its
    default filled in and times in UTC, so a retry that says the same thing differently (field
    order, spacing, a default spelled out, another UTC offset) is the same request."""
    parsed = _canonical(body.model_dump()) if body is not None else None
    canonical = json.dumps([request.method, request.url.path, parsed], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).digest()


async def _raw_fingerprint(request: Request) -> bytes:
    """What keys stored before the canonical form were hashed with (the body as parsed JSON), so
    that a retry across the upgrade still replays. Unused once those keys have expired (the TTL
    after the upgrade); then remove it."""
    raw = await request.body()
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode("utf-8", "replace")
    canonical = json.dumps([request.method, request.url.path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).digest()


async def run(
    session: AsyncSession,
    user: User,
    key: str | None,
    request: Request,
    now: datetime,
    ttl: timedelta,
    operation: Callable[[], Awaitable[tuple[int, BaseModel]]],
    body: BaseModel | None = None,
) -> JSONResponse:
    """`body`: the request's validated body, which with the method and path identifies the request."""
    if key is None:
        status, model = await operation()
        return JSONResponse(model.model_dump(mode="json"), status_code=status)
    if not 1 <= len(key) <= 255:
        raise ValidationProblem.field("Idempotency-Key", "must be 1 to 255 characters", where="header")
    digest = fingerprint(request, body)
    locked = await session.scalar(
        select(func.pg_try_advisory_xact_lock(func.hashtextextended(f"idempotency:{user.id}:{key}", 0)))
    )
    if not locked:
        raise InProgress("a request with this Idempotency-Key is still being processed; retry shortly")
    stored = await session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.user_id == user.id, IdempotencyKey.key == key, IdempotencyKey.expires_at > now
        )
    )
    if stored is not None:
        if stored.request_hash != digest and stored.request_hash != await _raw_fingerprint(request):
            raise KeyReused("this Idempotency-Key was used with a different request")
        return _response(stored.status_code, stored.response, replayed=True)

    savepoint = await session.begin_nested()
    try:
        status, model = await operation()
        body: dict[str, Any] = model.model_dump(mode="json")
        await savepoint.commit()
    except ProblemError as exc:
        if exc.keeps_writes:
            await savepoint.commit()
        else:
            await savepoint.rollback()
        status = exc.status
        body = problem_body(exc.status, exc.code, exc.detail, errors=exc.errors, extra=exc.extra)
    # Upsert: an expired row for the same key is simply replaced.
    await session.execute(
        insert(IdempotencyKey)
        .values(
            user_id=user.id,
            key=key,
            request_hash=digest,
            status_code=status,
            response=body,
            created_at=now,
            expires_at=now + ttl,
        )
        .on_conflict_do_update(
            index_elements=["user_id", "key"],
            set_={
                "request_hash": digest,
                "status_code": status,
                "response": body,
                "created_at": now,
                "expires_at": now + ttl,
            },
        )
    )
    return _response(status, body, replayed=False)


def _response(status: int, body: dict[str, Any], *, replayed: bool) -> JSONResponse:
    media_type = "application/problem+json" if status >= 400 else "application/json"
    headers = {REPLAYED_HEADER: "true"} if replayed else {}
    return JSONResponse(body, status_code=status, media_type=media_type, headers=headers)


async def purge_expired(session: AsyncSession, now: datetime) -> int:
    result = await session.execute(
        text("delete from idempotency_keys where expires_at <= :now"), {"now": now}
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
