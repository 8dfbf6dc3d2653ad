"""Users' background jobs."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import col

from app.clock import utcnow
from app.db import Database
from app.jobs import Job
from app.settings import Settings
from app.users.models import AccountToken

logger = logging.getLogger(__name__)


async def purge_account_tokens(
    database: Database, now: datetime | None = None, *, keep: timedelta = timedelta(days=7)
) -> int:
    """Deletes mailed links a week after they expired: a used or expired one only answers
    `invalid_token`, which an unknown one does too."""
    async with database.sessionmaker() as session, session.begin():
        result = await session.execute(
            delete(AccountToken).where(col(AccountToken.expires_at) < (now or utcnow()) - keep)
        )
    count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if count:
        logger.info("purged %d old account tokens", count)
    return count


def jobs(settings: Settings) -> list[Job]:
    return [Job(purge_account_tokens, every=timedelta(hours=1))]
