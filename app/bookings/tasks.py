"""Bookings' background jobs."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from app.bookings import idempotency, visits
from app.bookings import service as bookings
from app.clock import utcnow
from app.db import Database
from app.jobs import Job
from app.settings import Settings

logger = logging.getLogger(__name__)


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


async def remind(database: Database, now: datetime, *, batch: int = 1000) -> tuple[int, int]:
    """The reminders due at `now` (see `bookings.remind_due`), in batches of one transaction each:
    (starts_soon, ends_soon) sent."""
    starts = ends = 0
    while True:
        async with database.sessionmaker() as session, session.begin():
            sent = await bookings.remind_due(session, now, batch=batch)
        starts += sent.starts_soon
        ends += sent.ends_soon
        if sent.starts_soon < batch and sent.ends_soon < batch:
            break
    if starts or ends:
        logger.info("sent %d starts_soon and %d ends_soon reminders", starts, ends)
    return starts, ends


async def send_reminders(database: Database) -> tuple[int, int]:
    """The scheduler's job: the reminders due now."""
    return await remind(database, utcnow())


async def watch(database: Database, now: datetime, *, batch: int = 1000) -> visits.Watched:
    """At the spot (`visits.watch_due`): overstays, their next drivers, overstays at their cap and
    no-shows due at `now`, in batches of one transaction each."""
    total = visits.Watched(0, 0, 0, 0)
    while True:
        async with database.sessionmaker() as session, session.begin():
            done = await visits.watch_due(session, now, batch=batch)
        total = visits.Watched(*(a + b for a, b in zip(total, done, strict=True)))
        if max(done) < batch:
            break
    if any(total):
        logger.info(
            "marked %d overstays, told %d next drivers, completed %d overstays, marked %d no-shows", *total
        )
    return total


async def watch_spots(database: Database) -> visits.Watched:
    """The scheduler's job: what is due at the spots now."""
    return await watch(database, utcnow())


async def purge_idempotency_keys(database: Database) -> int:
    async with database.sessionmaker() as session, session.begin():
        return await idempotency.purge_expired(session, utcnow())


def jobs(settings: Settings) -> list[Job]:
    return [
        Job(sweep_bookings, every=timedelta(seconds=settings.sweep_interval_seconds), at_start=True),
        # As often as the sweep: a reminder is then at most that late.
        Job(send_reminders, every=timedelta(seconds=settings.sweep_interval_seconds), at_start=True),
        # As often as the sweep: an overstay or a no-show is then at most that late.
        Job(watch_spots, every=timedelta(seconds=settings.sweep_interval_seconds), at_start=True),
        Job(purge_idempotency_keys, every=timedelta(hours=1)),
    ]
