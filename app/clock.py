"""The one place time is read: the request's time (`Now`) and the system clock (`utcnow`).
Everything that decides by the clock (lead time, horizon, expiry) takes `now` from here, so tests
can set the app's clock instead of waiting for a date.

Outside production the system clock can run faster (`SIMULATED_CLOCK_SPEED` from
`SIMULATED_CLOCK_ORIGIN`, docs/jobs.md): `bench.jobs_once` lives ten minutes of holds, reminders and
completions in one, with several processes that all read the same time because it is a function of
the shared wall clock, not of when each process started. Only the wall clock runs faster: timeouts
and the scheduler's intervals stay in real seconds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

Clock = Callable[[], datetime]

# (origin, speed) while simulated: set once at a process's start by `simulate`.
_simulated: tuple[datetime, float] | None = None


def simulated(origin: datetime, speed: float, real: datetime) -> datetime:
    """The simulated time at the wall-clock time `real`: `origin` itself, then `speed` seconds per second."""
    return origin + (real - origin) * speed


def simulate(origin: datetime | None, speed: float) -> None:
    """Makes `utcnow` run `speed` times as fast from `origin` in this process (speed 1: the real
    clock). The settings refuse a speed in production, so no production process calls this with one."""
    global _simulated
    _simulated = None if speed == 1 or origin is None else (origin, speed)


def speed() -> float:
    """How many times as fast `utcnow` runs (1: the real clock). A lease that must outlast
    something timed in real seconds (a send and its timeout) is that long times the speed: at
    speed 10 a 60 s lease would otherwise last 6 real seconds, less than a 10 s timeout."""
    return 1.0 if _simulated is None else _simulated[1]


def utcnow() -> datetime:
    """The system clock: for what has no request (jobs, the command line, row defaults); a
    request's code takes `Now` instead."""
    real = datetime.now(UTC)
    if _simulated is None:
        return real
    return simulated(*_simulated, real)


async def request_now(request: Request) -> datetime:
    clock: Clock = getattr(request.app.state, "clock", utcnow)
    return clock()


Now = Annotated[datetime, Depends(request_now)]
