from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import text

from app.clock import utcnow
from app.db import Database
from app.jobs import Job
from app.mail import sender
from app.settings import Settings

logger = logging.getLogger(__name__)

# What was mailed to an account stays in its export this long, then goes (data minimisation).
MAIL_RECORDS_KEPT = timedelta(days=90)


async def purge_old_mails(database: Database, now: datetime | None = None) -> int:
    cutoff = (now or utcnow()) - MAIL_RECORDS_KEPT
    async with database.sessionmaker() as session, session.begin():
        result = await session.execute(
            text("delete from mails where coalesce(sent_at, failed_at) < :cutoff"), {"cutoff": cutoff}
        )
    count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if count:
        logger.info("purged %d old mail records", count)
    return count


def jobs(settings: Settings) -> list[Job]:
    async def send_mails(database: Database) -> int:
        return await sender.send_due(database, settings)

    return [
        Job(send_mails, every=timedelta(seconds=settings.mail_interval_seconds), at_start=True),
        Job(purge_old_mails, every=timedelta(hours=1)),
    ]
