"""Background jobs (APScheduler): each domain declares its own in its `tasks.py`; this only runs
them. Each job is safe to run in several processes at once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app import ratelimit
from app.auth import tasks as auth_tasks
from app.availability import tasks as availability_tasks
from app.bookings import tasks as bookings_tasks
from app.db import Database
from app.events import tasks as events_tasks
from app.jobs import Job
from app.mail import tasks as mail_tasks
from app.settings import Settings
from app.users import tasks as users_tasks


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
            job.run,
            "interval",
            args=[database],
            id=job.run.__name__,
            coalesce=True,
            max_instances=1,
            **timing,
        )
    return scheduler
