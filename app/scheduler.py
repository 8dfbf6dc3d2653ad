"""Background jobs (APScheduler): each domain declares its own in its `tasks.py`; this only runs
them. Each job is safe to run in several processes at once."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app import ratelimit
from app.auth import tasks as auth_tasks
from app.availability import tasks as availability_tasks
from app.bookings import tasks as bookings_tasks
from app.db import Database
from app.errors import database_unavailable
from app.events import tasks as events_tasks
from app.jobs import Job
from app.mail import tasks as mail_tasks
from app.settings import Settings
from app.users import tasks as users_tasks

logger = logging.getLogger(__name__)

# A run that finds the database out of reach (a restart, a failover) tries again after these
# delays, as long as each is shorter than the job's interval, rather than waiting for its next
# run: an hourly job would otherwise skip an hour.
RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


def jobs(settings: Settings) -> list[Job]:
    return [
        *bookings_tasks.jobs(settings),
        *availability_tasks.jobs(settings),
        *auth_tasks.jobs(settings),
        *ratelimit.jobs(settings),
        *events_tasks.jobs(settings),
        *mail_tasks.jobs(settings),
        *users_tasks.jobs(settings),
    ]


def surviving_outages(
    job: Job, delays: tuple[float, ...] = RETRY_SECONDS
) -> Callable[[Database], Awaitable[object]]:
    """`job.run`, run again after a short wait when the database is unavailable."""
    waits = [d for d in delays if d < job.every.total_seconds()]

    @functools.wraps(job.run)
    async def run(database: Database) -> object:
        for delay in waits:
            try:
                return await job.run(database)
            except Exception as exc:
                if not database_unavailable(exc):
                    raise
                logger.warning(
                    "job %s: the database is unavailable (%s); again in %g s",
                    job.run.__name__,
                    type(exc).__name__,
                    delay,
                )
            await asyncio.sleep(delay)
        return await job.run(database)

    return run


def build_scheduler(settings: Settings, database: Database) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    for job in jobs(settings):
        timing: dict[str, Any] = {"seconds": job.every.total_seconds()}
        if job.at_start:
            # APScheduler waits by the wall clock, not by the service's (app.clock), which may run
            # faster outside production: a first run at the service's time could be hours away.
            timing["next_run_time"] = datetime.now(UTC)
        # coalesce and max_instances: a run that falls behind is not queued twice in one process;
        # across processes the jobs themselves are safe to overlap.
        scheduler.add_job(
            surviving_outages(job),
            "interval",
            args=[database],
            id=job.run.__name__,
            coalesce=True,
            max_instances=1,
            **timing,
        )
    return scheduler
