"""`GET /v1/me/events`: the caller's events as Server-Sent Events, live and resumable.

The stream subscribes to the process's hub first and then catches up from the outbox (after
`Last-Event-ID`, or from where the hub stands); events that arrive both ways are sent once, by
their place in the outbox. The request's database session is over before the first byte: a
stream holds a connection only while it reads a page of its catch-up.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Request
from sqlalchemy.ext.asyncio import AsyncEngine
from sse_starlette import EventSourceResponse, ServerSentEvent

from app.db import Database
from app.errors import ServiceUnavailable
from app.events.hub import BATCH, EventRow, Hub, Position, Subscription, page_for_user, position_of
from app.openapi import problems
from app.ratelimit import RateLimited
from app.users.dependencies import CurrentUser

router = APIRouter(tags=["events"])

KEEPALIVE_SECONDS = 15
STREAMS_PER_USER = 5  # per process; a client that opens more is refused, not queued


async def _raw(engine: AsyncEngine, user_id: uuid.UUID, position: Position) -> list[EventRow]:
    async with engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        return await page_for_user(raw, user_id, position)


async def _start(engine: AsyncEngine, user_id: uuid.UUID, last_event_id: str | None) -> Position | None:
    if last_event_id is None:
        return None
    async with engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        return await position_of(raw, last_event_id, user_id)


def _message(row: EventRow, user_id: uuid.UUID) -> ServerSentEvent:
    return ServerSentEvent(id=str(row.id), event=row.type, data=row.message_for(user_id))


async def _messages(
    hub: Hub, engine: AsyncEngine, subscription: Subscription, start: Position | None
) -> AsyncIterator[ServerSentEvent]:
    user_id = subscription.user_id
    try:
        # Read synchronously after subscribing: whatever the hub reads from here on is queued.
        position = start if start is not None else hub.position
        assert position is not None
        while True:
            rows = await _raw(engine, user_id, position)
            for row in rows:
                yield _message(row, user_id)
                position = row.position
            if len(rows) < BATCH:
                break
        while not subscription.overflowed.is_set():
            get = asyncio.ensure_future(subscription.queue.get())
            overflow = asyncio.ensure_future(subscription.overflowed.wait())
            try:
                await asyncio.wait((get, overflow), return_when=asyncio.FIRST_COMPLETED)
            finally:
                overflow.cancel()
                if not get.done():
                    get.cancel()
            if not get.done() or get.cancelled():
                break
            row = get.result()
            if row.position <= position:
                continue  # already sent from the catch-up
            yield _message(row, user_id)
            position = row.position
        # Fell too far behind: the client reconnects with Last-Event-ID and catches up from the outbox.
    finally:
        hub.unsubscribe(subscription)


@router.get(
    "/v1/me/events",
    operation_id="streamMyEvents",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "A `text/event-stream`: each message has `id:` (the event id), `event:` "
            "(its type) and `data:` (the event JSON, `{id, type, created_at, data}`). A comment "
            f"line comes every {KEEPALIVE_SECONDS} s.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **problems("rate_limited", "unavailable"),
    },
    summary="Your events, live",
    description="Server-Sent Events of every event of your bookings (as driver and as owner) and of "
    "your webhooks. Reconnect with `Last-Event-ID` to receive, without gaps, what came after that "
    "event (events are kept at least 7 days); without it, the stream starts now. An unknown "
    "`Last-Event-ID` also starts now. The stream may close (a deploy, a client that reads too "
    "slowly): reconnect with the last id you received.",
)
async def stream_my_events(
    request: Request,
    user: CurrentUser,
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
    if sum(1 for _ in hub.subscriptions_of(user.id)) >= STREAMS_PER_USER:
        raise RateLimited(
            f"at most {STREAMS_PER_USER} open streams per account", headers={"Retry-After": "30"}
        )
    start = await _start(database.engine, user.id, last_event_id)
    subscription = hub.subscribe(user.id)
    return EventSourceResponse(
        _messages(hub, database.engine, subscription, start),
        ping=KEEPALIVE_SECONDS,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
