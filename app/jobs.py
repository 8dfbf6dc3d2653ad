"""A background job as a domain declares it in its `tasks.py`; app/scheduler.py runs them all."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from app.db import Database


@dataclass(frozen=True)
class Job:
    """`run` opens its own transaction (there is no request) and must be safe in several processes
    at once. Its name is the job's id in the scheduler."""

    run: Callable[[Database], Awaitable[object]]
    every: timedelta
    # Also once as soon as the scheduler starts, rather than a first interval later.
    at_start: bool = False
