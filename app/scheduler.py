"""Background jobs (APScheduler). Each job is safe to run in several processes at once."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import delete, or_

from app import ratelimit
from app.auth.models import LoginSession, RefreshToken
from app.availability.materialize import extend_open_ranges
from app.bookings import idempotency
from app.bookings import service as bookings
from app.clock import utcnow
from app.db import Database
from app.settings import Settings

logger = logging.getLogger(__name__)


async def purge_dead_refresh_tokens(database: Database, *, keep: timedelta = timedelta(days=7)) -> int:
    """Deletes refresh tokens long expired or belonging to long-revoked sign-ins.

    One idempotent statement: several processes running it at once delete each row once.
    """
    cutoff = utcnow() - keep
    async with database.sessionmaker() as session, session.begin():
        revoked = (
            LoginSession.__table__.select()  # type: ignore[attr-defined]
            .with_only_columns(LoginSession.id)
            .where(LoginSession.revoked_at < cutoff)  # type: ignore[operator]
        )
        result = await session.execute(
            delete(RefreshToken).where(
                or_(RefreshToken.expires_at < cutoff, RefreshToken.session_id.in_(revoked))  # type: ignore[attr-defined]
            )
        )
    count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if count:
        logger.info("purged %d dead refresh tokens", count)
    return count


async def sweep_bookings(database: Database) -> tuple[int, int]:
    """Expires holds and requests past their deadline and completes bookings past their end, in
    batches of single statements that skip rows another process holds (see bookings.service)."""
    expired = completed = 0
    while True:
        async with database.sessionmaker() as session, session.begin():
            now = utcnow()
            batch_expired = await bookings.expire_due(session, now)
            batch_completed = await bookings.complete_due(session, now)
        expired += batch_expired
        completed += batch_completed
        if batch_expired < 1000 and batch_completed < 1000:
            break
    if expired or completed:
        logger.info("expired %d and completed %d bookings", expired, completed)
    return expired, completed


async def purge_idempotency_keys(database: Database) -> int:
    async with database.sessionmaker() as session, session.begin():
        return await idempotency.purge_expired(session, utcnow())


async def purge_rate_limits(database: Database) -> int:
    async with database.sessionmaker() as session, session.begin():
        return await ratelimit.purge(session, utcnow())


def build_scheduler(settings: Settings, database: Database) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    jobs: list[tuple[Callable[[Database], Awaitable[object]], dict[str, Any]]] = [
        (sweep_bookings, {"seconds": settings.sweep_interval_seconds, "next_run_time": utcnow()}),
        # Hourly, though each spot needs it daily: a spot whose ranges fall short is soon picked up.
        (extend_open_ranges, {"hours": 1, "next_run_time": utcnow()}),
        (purge_dead_refresh_tokens, {"hours": 1}),
        (purge_idempotency_keys, {"hours": 1}),
        (purge_rate_limits, {"hours": 1}),
    ]
    for job, timing in jobs:
        # coalesce and max_instances: a run that falls behind is not queued twice in one process;
        # across processes the jobs themselves are safe to overlap.
        scheduler.add_job(
            job, "interval", args=[database], id=job.__name__, coalesce=True, max_instances=1, **timing
        )
    return scheduler
