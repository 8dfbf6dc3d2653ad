"""`Idempotency-Key` for the POST routes that create or change bookings (docs/api.md, "retries"),
and the per-user rate limit on those writes.

The first request with a key runs while holding a transaction-scoped advisory lock on (user, key):
a retry arriving meanwhile, in any process, fails to take the lock and gets 409
`idempotency_in_progress`. The answer, success or refusal, is stored with a hash of the request in
the same transaction as the work it describes, so a retry after the commit replays exactly that
answer and nothing is done twice; a retry of a request that crashed finds nothing stored and runs
again. Refusals run in a savepoint so their partial work is undone while their answer is kept.

Every write that runs counts against its user's window (BOOKING_WRITES_PER_USER per
BOOKING_WRITE_WINDOW_SECONDS), refused or not: a script probing for free slots fails most of its
attempts. A replayed answer does not count, since the client that retries after a lost answer did
nothing new; a 429 is not stored under the key, so the same retry after the window runs. The count
is written in the request's transaction (no second connection or commit for a booking), so one
user's concurrent writes wait for each other on the counter's row; other users' never do.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import ratelimit
from app.bookings.errors import InProgress, KeyReused
from app.bookings.models import IdempotencyKey
from app.errors import ProblemError, ValidationProblem, problem_body
from app.users.models import User

REPLAYED_HEADER = "Idempotent-Replayed"
IDEMPOTENCY_KEY = "Idempotency-Key"
# What the 429's detail says there were too many of.
WHAT = "booking changes"


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_KEY,
        description="1-255 characters. A retry with the same key and body returns the first answer "
        "again; the same key with another body is 422 `idempotency_key_reused`; a retry while the "
        "first is still running is 409 `idempotency_in_progress`. Keys are kept at least 24 h.",
    ),
]


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        # The same instant written with another offset is the same request.
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):  # a series' `from` and `until`
        return value.isoformat()
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


Route = Callable[..., Awaitable[BaseModel]]
# What `@idempotent` makes of a route: it builds the JSON response itself (or replays a stored one).
IdempotentRoute = Callable[..., Awaitable[Response]]


def idempotent(status_code: int, *, no_body: BaseModel | None = None) -> Callable[[Route], IdempotentRoute]:
    """Makes a booking route answer retries sent with the same `Idempotency-Key` from the store.

    The route is a plain function that returns its answer (a model, sent with `status_code`) or
    raises a `ProblemError`. It must take `user`, `session` and `now`, and its validated body, if
    any, as `body`; `no_body` is the body that a request without one counts as. The decorator adds
    the `Idempotency-Key` header and the request to what FastAPI passes, and then:

    - without a key, calls the route and sends its answer;
    - with one, takes the advisory lock on (user, key) (409 `idempotency_in_progress` when another
      request holds it), replays a stored answer of the same request (422
      `idempotency_key_reused` for another), or calls the route in a savepoint and stores its
      answer or refusal with the request's fingerprint before sending it.
    """

    def decorate(route: Route) -> IdempotentRoute:
        signature = inspect.signature(route, eval_str=True)
        extra = [
            inspect.Parameter("_request", inspect.Parameter.KEYWORD_ONLY, annotation=Request),
            inspect.Parameter(
                "_idempotency_key",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=IdempotencyKeyHeader,
                default=None,
            ),
        ]

        @functools.wraps(route)
        async def answer(*, _request: Request, _idempotency_key: str | None, **kwargs: Any) -> Response:
            if _idempotency_key is None:
                return await _answer(
                    kwargs["session"], kwargs["user"], _request, kwargs["now"], status_code, route, kwargs
                )
            body = kwargs.get("body")
            return await _answer_once(
                kwargs["session"],
                kwargs["user"],
                _idempotency_key,
                _request,
                kwargs["now"],
                body if body is not None else no_body,
                status_code,
                functools.partial(route, **kwargs),
            )

        answer.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[*signature.parameters.values(), *extra], return_annotation=Response
        )
        return answer

    return decorate


async def _answer_once(
    session: AsyncSession,
    user: User,
    key: str,
    request: Request,
    now: datetime,
    body: BaseModel | None,
    status_code: int,
    route: Callable[[], Awaitable[BaseModel]],
) -> JSONResponse:
    if not 1 <= len(key) <= 255:
        raise ValidationProblem.field(IDEMPOTENCY_KEY, "must be 1 to 255 characters", where="header")
    digest = fingerprint(request, body)
    locked = await session.scalar(
        select(func.pg_try_advisory_xact_lock(func.hashtextextended(f"idempotency:{user.id}:{key}", 0)))
    )
    if not locked:
        raise InProgress("a request with this Idempotency-Key is still being processed; retry shortly")
    stored = await session.scalar(
        select(IdempotencyKey).where(
            col(IdempotencyKey.user_id) == user.id,
            col(IdempotencyKey.key) == key,
            col(IdempotencyKey.expires_at) > now,
        )
    )
    if stored is not None:
        if stored.request_hash != digest:
            raise KeyReused("this Idempotency-Key was used with a different request")
        return _response(stored.status_code, stored.response, replayed=True)

    # Counted here, not in the savepoint: the count survives a refusal, and the answer stored for
    # the key is never the 429.
    await _count_write(session, user, request, now)
    status = status_code
    savepoint = await session.begin_nested()
    try:
        answer: dict[str, Any] = (await route()).model_dump(mode="json")
        await savepoint.commit()
    except ProblemError as exc:
        if exc.keeps_writes:
            await savepoint.commit()
        else:
            await savepoint.rollback()
        status = exc.status
        answer = problem_body(exc.status, exc.code, exc.detail, errors=exc.errors, extra=exc.extra)
    ttl = timedelta(seconds=request.app.state.settings.idempotency_ttl_seconds)
    row = insert(IdempotencyKey).values(
        user_id=user.id,
        key=key,
        request_hash=digest,
        status_code=status,
        response=answer,
        created_at=now,
        expires_at=now + ttl,
    )
    # Upsert: an expired row for the same key is simply replaced.
    replaced = ("request_hash", "status_code", "response", "created_at", "expires_at")
    await session.execute(
        row.on_conflict_do_update(
            index_elements=["user_id", "key"], set_={name: row.excluded[name] for name in replaced}
        )
    )
    return _response(status, answer, replayed=False)


def _writes(user: User, request: Request) -> tuple[str, int, timedelta]:
    """The user's rate-limit key for booking writes, the limit and the window."""
    settings = request.app.state.settings
    return (
        f"booking-writes:{user.id}",
        settings.booking_writes_per_user,
        timedelta(seconds=settings.booking_write_window_seconds),
    )


async def _count_write(session: AsyncSession, user: User, request: Request, now: datetime) -> None:
    key, limit, window = _writes(user, request)
    await ratelimit.hit(session, key, limit, window, now, WHAT)


async def _answer(
    session: AsyncSession,
    user: User,
    request: Request,
    now: datetime,
    status_code: int,
    route: Route,
    kwargs: dict[str, Any],
) -> Response:
    """A request without a key: counted in the request's transaction, which is all a success costs.

    A refusal rolls that transaction back; the attempt is then counted again in a fresh one, which
    the refusal keeps (a 409 is an attempt like any other)."""
    # Taken before the route: the rollback expires `user`, which is not loaded again.
    key, limit, window = _writes(user, request)
    await ratelimit.hit(session, key, limit, window, now, WHAT)
    try:
        answer = await route(**kwargs)
    except ProblemError as exc:
        if not exc.keeps_writes:
            await session.rollback()
            await ratelimit.add(session, key, window, now)
            exc.keeps_writes = True
        raise
    # Serialised by pydantic in one step: the same bytes as JSONResponse of `model_dump(mode="json")`
    # without building the dict first.
    return Response(answer.model_dump_json(), status_code=status_code, media_type="application/json")


def _response(status: int, body: dict[str, Any], *, replayed: bool) -> JSONResponse:
    media_type = "application/problem+json" if status >= 400 else "application/json"
    headers = {REPLAYED_HEADER: "true"} if replayed else {}
    return JSONResponse(body, status_code=status, media_type=media_type, headers=headers)


async def purge_expired(session: AsyncSession, now: datetime) -> int:
    result = await session.execute(
        text("delete from idempotency_keys where expires_at <= :now"), {"now": now}
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
