"""The outbox's background jobs: events are kept `EVENT_RETENTION_DAYS` (at least the 7 days the
API promises for resuming a stream), then deleted with their deliveries."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import text

from app.clock import utcnow
from app.db import Database
from app.jobs import Job
from app.settings import Settings

logger = logging.getLogger(__name__)

# Small transactions: a purge after a busy week must not hold thousands of row locks for long, nor
# write one huge transaction to the WAL. Deliveries go with their events (ON DELETE CASCADE).
_PURGE = """
with old as (
    select seq from events
    where created_at < :before
    order by created_at
    for update skip locked
    limit :batch
)
delete from events e using old where e.seq = old.seq
"""


async def purge_events(database: Database, before: datetime, *, batch: int = 5000) -> int:
    """Deletes the events created before `before`, a batch per transaction; safe in several
    processes at once (each skips the rows another is deleting)."""
    purged = 0
    while True:
        async with database.sessionmaker() as session, session.begin():
            result = await session.execute(text(_PURGE), {"before": before, "batch": batch})
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        purged += count
        if count < batch:
            break
    if purged:
        logger.info("purged %d events created before %s", purged, before.isoformat())
    return purged


def jobs(settings: Settings) -> list[Job]:
    keep = timedelta(days=settings.event_retention_days)

    async def purge_old_events(database: Database) -> int:
        return await purge_events(database, utcnow() - keep)

    return [Job(purge_old_events, every=timedelta(hours=1))]
