"""The one place time is read: the request's time (`Now`) and the system clock (`utcnow`).
Everything that decides by the clock (lead time, horizon, expiry) takes `now` from here, so tests
can set the app's clock instead of waiting for a date."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The system clock: for what has no request (jobs, the command line, row defaults); a
    request's code takes `Now` instead."""
    return datetime.now(UTC)


async def request_now(request: Request) -> datetime:
    clock: Clock = getattr(request.app.state, "clock", utcnow)
    return clock()


Now = Annotated[datetime, Depends(request_now)]
