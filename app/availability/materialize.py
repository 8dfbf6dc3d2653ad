"""A spot's open ranges, expanded into `spot_open_ranges` for SQL searches.

The rows are derived: (rules | windows) - blackouts over [now - 1 day, now + horizon + 2 days],
computed by `booking` exactly as the availability endpoint computes them, and rewritten in the same
transaction as every change to their inputs (the spot row is locked by the caller). The scheduler
moves the window forward every day, so the rows always reach past the spot's horizon.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import (
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.availability.calendar import load_calendar
from app.availability.models import SpotOpenRange
from app.clock import utcnow
from app.db import Database
from app.spots.models import Spot
from booking import Interval

logger = logging.getLogger(__name__)

OPEN_BEHIND = timedelta(days=1)
OPEN_PAST_HORIZON = timedelta(days=2)


def interval_of(during: Range[object]) -> Interval:
    return Interval(during.lower, during.upper)  # type: ignore[arg-type]


def range_of(interval: Interval) -> Range[object]:
    return Range(interval.start, interval.end, bounds="[)")


async def refresh_open_ranges(session: AsyncSession, spot: Spot, now: datetime) -> int:
    bounds = Interval(now - OPEN_BEHIND, now + timedelta(days=spot.horizon_days) + OPEN_PAST_HORIZON)
    calendar = await load_calendar(session, spot, bounds)
    open_times = calendar.open_times(bounds)
    await session.execute(delete(SpotOpenRange).where(col(SpotOpenRange.spot_id) == spot.id))
    if open_times:
        await session.execute(
            insert(SpotOpenRange), [{"spot_id": spot.id, "during": range_of(i)} for i in open_times]
        )
    spot.open_ranges_until = bounds.end
    await session.flush()
    return len(open_times)


async def clear_open_ranges(session: AsyncSession, spot: Spot) -> None:
    await session.execute(delete(SpotOpenRange).where(col(SpotOpenRange.spot_id) == spot.id))
    spot.open_ranges_until = None


async def extend_open_ranges(database: Database, *, batch: int = 200, now: datetime | None = None) -> int:
    """Recomputes the spots whose ranges no longer reach a day past their horizon.

    Batches lock their spots with SKIP LOCKED, so several processes share the work and a spot
    being edited right now is left to the edit, which recomputes it anyway.
    """
    done = 0
    now = now or utcnow()
    while True:
        async with database.sessionmaker() as session, session.begin():
            threshold = now + func.make_interval(0, 0, 0, Spot.horizon_days + 1)
            spots = (
                await session.scalars(
                    select(Spot)
                    .where(
                        col(Spot.deleted_at).is_(None),
                        (col(Spot.open_ranges_until).is_(None)) | (col(Spot.open_ranges_until) < threshold),
                    )
                    .order_by(col(Spot.open_ranges_until).nulls_first())
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for spot in spots:
                await refresh_open_ranges(session, spot, now)
        done += len(spots)
        if len(spots) < batch:
            break
    if done:
        logger.info("extended the open ranges of %d spots", done)
    return done
