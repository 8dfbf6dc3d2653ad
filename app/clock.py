"""The time a request happens at. Everything that decides by the clock (lead time, horizon, expiry)
takes `now` from here, so tests can set the app's clock instead of waiting for a date."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from app.db import utcnow

Clock = Callable[[], datetime]


async def request_now(request: Request) -> datetime:
    clock: Clock = getattr(request.app.state, "clock", utcnow)
    return clock()


Now = Annotated[datetime, Depends(request_now)]
