"""Auth's background jobs."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete, or_
from sqlmodel import col

from app.auth.models import LoginSession, RefreshToken
from app.clock import utcnow
from app.db import Database
from app.jobs import Job
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
            .where(col(LoginSession.revoked_at) < cutoff)
        )
        result = await session.execute(
            delete(RefreshToken).where(
                or_(col(RefreshToken.expires_at) < cutoff, col(RefreshToken.session_id).in_(revoked))
            )
        )
    count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if count:
        logger.info("purged %d dead refresh tokens", count)
    return count


def jobs(settings: Settings) -> list[Job]:
    return [Job(purge_dead_refresh_tokens, every=timedelta(hours=1))]
