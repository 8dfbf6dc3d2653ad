"""`GET /v1/me/events`: the caller's events as Server-Sent Events, live and resumable.

The stream subscribes to the process's hub first, then reads the outbox from after `Last-Event-ID`
up to where the hub stood at that moment, and then sends what the hub queued for it: events that
came both ways are sent once, by their place in the outbox. Without `Last-Event-ID` it starts where
the hub stood. The request's database session is over before the first byte: a stream holds a
connection only while it reads a page of its catch-up. It ends when the access token it was opened
with expires; the client reconnects with a fresh one and its last id.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from sqlalchemy.ext.asyncio import AsyncEngine
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.types import Receive, Scope, Send

from app.clock import Now
from app.db import Database
from app.errors import ServiceUnavailable
from app.events.hub import BATCH, EventRow, Hub, Position, Subscription, page_for_user, position_of
from app.openapi import problems
from app.ratelimit import RateLimited
from app.users.dependencies import AccessToken, CurrentUser

router = APIRouter(tags=["events"])

KEEPALIVE_SECONDS: float = 15
STREAMS_PER_USER = 5  # per process; a client that opens more is refused, not queued


async def _raw(engine: AsyncEngine, user_id: uuid.UUID, after: Position, upto: Position) -> list[EventRow]:
    async with engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        return await page_for_user(raw, user_id, after, upto)


async def _start(engine: AsyncEngine, user_id: uuid.UUID, last_event_id: str | None) -> Position | None:
    if last_event_id is None:
        return None
    async with engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        return await position_of(raw, last_event_id, user_id)


def _message(row: EventRow, user_id: uuid.UUID) -> ServerSentEvent:
    return ServerSentEvent(id=str(row.id), event=row.type, data=row.message_for(user_id))


async def _next_live(subscription: Subscription, until: float) -> EventRow | None:
    """The next event the hub queued, or None when the stream is to end: it fell too far behind
    (the client catches up from the outbox on reconnecting) or its token expires (loop time `until`)."""
    if subscription.overflowed.is_set():
        return None
    left = until - asyncio.get_running_loop().time()
    if left <= 0:
        return None
    get = asyncio.ensure_future(subscription.queue.get())
    overflow = asyncio.ensure_future(subscription.overflowed.wait())
    try:
        await asyncio.wait((get, overflow), timeout=left, return_when=asyncio.FIRST_COMPLETED)
    finally:
        overflow.cancel()
        if not get.done():
            get.cancel()
    # A row taken along with the overflow came before the dropped one: still in order, no gap.
    return get.result() if get.done() and not get.cancelled() else None


async def _messages(
    engine: AsyncEngine, subscription: Subscription, start: Position | None, until: float
) -> AsyncIterator[ServerSentEvent]:
    user_id = subscription.user_id
    loop = asyncio.get_running_loop()
    position = start if start is not None else subscription.since
    # The outbox up to where the hub stood when the stream subscribed; the hub queues what follows.
    while position < subscription.since and loop.time() < until:
        rows = await _raw(engine, user_id, position, subscription.since)
        for row in rows:
            yield _message(row, user_id)
            position = row.position
        if len(rows) < BATCH:
            break
    while (live := await _next_live(subscription, until)) is not None:
        if live.position <= position:
            continue  # already sent from the catch-up
        yield _message(live, user_id)
        position = live.position


class _Stream(EventSourceResponse):
    """The response owns the stream's subscription and ends it with itself, whether or not its
    body ever started (a client gone before the first byte never runs the generator's cleanup)."""

    def __init__(
        self, hub: Hub, subscription: Subscription, content: AsyncIterator[Any], **kwargs: Any
    ) -> None:
        super().__init__(content, **kwargs)
        self._hub = hub
        self._subscription = subscription

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._hub.unsubscribe(self._subscription)


@router.get(
    "/v1/me/events",
    operation_id="streamMyEvents",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "A `text/event-stream`: each message has `id:` (the event id), `event:` "
            "(its type) and `data:` (the event JSON, `{id, type, created_at, data}`). A comment "
            f"line comes every {KEEPALIVE_SECONDS:g} s.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **problems("rate_limited", "unavailable"),
    },
    summary="Your events, live",
    description="Server-Sent Events of every event of your bookings (as driver and as owner) and of "
    "your webhooks. Reconnect with `Last-Event-ID` to receive, without gaps, what came after that "
    "event (events are kept at least 7 days); without it, the stream starts now. An unknown "
    "`Last-Event-ID` also starts now. The stream ends when the access token it was opened with "
    "expires, and may close earlier (a deploy, a client that reads too slowly): reconnect with a "
    "valid token and the last id you received.",
)
async def stream_my_events(
    request: Request,
    user: CurrentUser,
    token: AccessToken,
    now: Now,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", max_length=64, description="The id of the last event received"),
    ] = None,
) -> EventSourceResponse:
    hub: Hub | None = getattr(request.app.state, "hub", None)
    if hub is None or hub.position is None:
        raise ServiceUnavailable(
            "the live stream is not running in this process", headers={"Retry-After": "5"}
        )
    database: Database = request.app.state.db
    start = await _start(database.engine, user.id, last_event_id)
    # Counted and taken with no await in between: requests arriving together cannot all pass.
    if len(hub.subscriptions_of(user.id)) >= STREAMS_PER_USER:
        raise RateLimited(
            f"at most {STREAMS_PER_USER} open streams per account", headers={"Retry-After": "30"}
        )
    subscription = hub.subscribe(user.id)
    # The token's lifetime by the request's clock, counted down on the loop's monotonic clock.
    until = asyncio.get_running_loop().time() + (token.expires_at - now).total_seconds()
    return _Stream(
        hub,
        subscription,
        _messages(database.engine, subscription, start, until),
        ping=KEEPALIVE_SECONDS,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
