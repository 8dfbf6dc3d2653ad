"""Fixed-window rate limits kept in PostgreSQL, so they hold across processes and restarts.

Used where guessing is the threat (sign-in and registration) and against scripted booking (each
user's booking writes); answering 429 `rate_limited` with `Retry-After`. A counter is one row per (key, window); the increment is a single upsert.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import Column, DateTime, Integer, String, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from app.clock import utcnow
from app.db import Database, raw_connection
from app.errors import ProblemError
from app.jobs import Job
from app.settings import Settings


class RateLimit(SQLModel, table=True):
    __tablename__ = "rate_limits"

    key: str = Field(sa_column=Column(String(300), primary_key=True))
    window_start: datetime = Field(sa_column=Column(DateTime(timezone=True), primary_key=True))
    count: int = Field(sa_column=Column(Integer, nullable=False))


class RateLimited(ProblemError):
    status = 429
    code = "rate_limited"
    # The attempt that went over the limit still counts.
    keeps_writes = True


def _window(now: datetime, window: timedelta) -> tuple[datetime, datetime]:
    size = window.total_seconds()
    start = datetime.fromtimestamp(math.floor(now.timestamp() / size) * size, now.tzinfo)
    return start, start + window


# Through asyncpg directly, in the session's transaction: every booking write counts, and
# SQLAlchemy's execution path costs several times the CPU of asyncpg's own call (docs/bookings.md,
# "Throughput").
_COUNT = "select count from rate_limits where key = $1 and window_start = $2"
_ADD = (
    "insert into rate_limits (key, window_start, count) values ($1, $2, 1)"
    " on conflict (key, window_start) do update set count = rate_limits.count + 1 returning count"
)


async def count(session: AsyncSession, key: str, window: timedelta, now: datetime) -> int:
    start, _ = _window(now, window)
    found = await (await raw_connection(session)).fetchval(_COUNT, key, start)
    return int(found or 0)


async def add(session: AsyncSession, key: str, window: timedelta, now: datetime) -> int:
    start, _ = _window(now, window)
    result = await (await raw_connection(session)).fetchval(_ADD, key, start)
    return int(result or 0)


def refuse(window: timedelta, now: datetime, what: str) -> RateLimited:
    _, end = _window(now, window)
    retry_after = max(1, math.ceil((end - now).total_seconds()))
    return RateLimited(
        f"too many {what}; try again in {retry_after} s", headers={"Retry-After": str(retry_after)}
    )


async def check(
    session: AsyncSession, key: str, limit: int, window: timedelta, now: datetime, what: str
) -> None:
    """Refuses when `key` has used up `limit` in this window, without counting this request."""
    if await count(session, key, window, now) >= limit:
        raise refuse(window, now, what)


async def hit(
    session: AsyncSession, key: str, limit: int, window: timedelta, now: datetime, what: str
) -> None:
    """Counts this request and refuses it when it goes over `limit`."""
    if await add(session, key, window, now) > limit:
        raise refuse(window, now, what)


async def purge(session: AsyncSession, now: datetime, keep: timedelta = timedelta(days=1)) -> int:
    result = await session.execute(
        text("delete from rate_limits where window_start < :cutoff"), {"cutoff": now - keep}
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def purge_rate_limits(database: Database) -> int:
    async with database.sessionmaker() as session, session.begin():
        return await purge(session, utcnow())


def jobs(settings: Settings) -> list[Job]:
    return [Job(purge_rate_limits, every=timedelta(hours=1))]
