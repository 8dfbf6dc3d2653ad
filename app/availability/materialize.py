"""A spot's open ranges, expanded into `spot_open_ranges` for SQL searches.

The rows are derived: (rules | windows) - blackouts over [now - 1 day, now + horizon + 2 days],
computed by `booking` exactly as the availability endpoint computes them, and rewritten in the same
transaction as every change to their inputs (the spot row is locked by the caller). The scheduler
moves the window forward every day, so the rows always reach past the spot's horizon.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, delete, func, insert, or_, select
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.ext.asyncio import AsyncSession

from app.availability.models import AvailabilityBlackout, AvailabilityRule, AvailabilityWindow, SpotOpenRange
from app.bookings.models import Booking
from app.db import Database, utcnow
from app.spots.models import Spot
from booking import BookingPolicy, Calendar, Interval, WeeklyRule

logger = logging.getLogger(__name__)

PAST = timedelta(days=1)
AHEAD_SLACK = timedelta(days=2)


def policy_of(spot: Spot) -> BookingPolicy:
    return BookingPolicy(
        ZoneInfo(spot.timezone),
        granularity_min=spot.granularity_min,
        min_duration_min=spot.min_duration_min,
        max_duration_min=spot.max_duration_min,
        lead_time_min=spot.lead_time_min,
        horizon_days=spot.horizon_days,
        buffer_min=spot.buffer_min,
    )


def rule_of(row: AvailabilityRule) -> WeeklyRule:
    return WeeklyRule(
        frozenset(row.weekdays), row.start_minute, row.end_minute, row.valid_from, row.valid_until
    )


def interval_of(during: Range[object]) -> Interval:
    return Interval(during.lower, during.upper)  # type: ignore[arg-type]


def range_of(interval: Interval) -> Range[object]:
    return Range(interval.start, interval.end, bounds="[)")


def blocking(now: datetime) -> ColumnElement[bool]:
    """Bookings that hold their interval at `now`: a hold or request past its deadline never
    blocks, even before the sweeper has marked it expired."""
    return or_(
        Booking.status == "confirmed",
        and_(Booking.status == "held", Booking.hold_expires_at > now),  # type: ignore[operator]
        and_(Booking.status == "requested", Booking.request_expires_at > now),  # type: ignore[operator]
    )


async def load_bookings(
    session: AsyncSession, spot: Spot, bounds: Interval, now: datetime, *, exclude: uuid.UUID | None = None
) -> tuple[Interval, ...]:
    """The blocking bookings of `spot` that matter within `bounds` (widened by the buffer)."""
    reach = bounds.widened(timedelta(minutes=spot.buffer_min))
    query = select(Booking.start_at, Booking.end_at).where(
        Booking.spot_id == spot.id,
        blocking(now),
        Booking.start_at < reach.end,
        Booking.end_at > reach.start,
    )
    if exclude is not None:
        query = query.where(Booking.id != exclude)
    return tuple(Interval(start, end) for start, end in (await session.execute(query)).all())


async def load_calendar(
    session: AsyncSession,
    spot: Spot,
    bounds: Interval,
    *,
    now: datetime | None = None,
    exclude: uuid.UUID | None = None,
) -> Calendar:
    """Everything deciding the spot's availability within `bounds`; with `now`, its bookings too."""
    during = func.tstzrange(bounds.start, bounds.end, "[)")
    rules = await session.scalars(select(AvailabilityRule).where(AvailabilityRule.spot_id == spot.id))
    windows = await session.scalars(
        select(AvailabilityWindow.during).where(
            AvailabilityWindow.spot_id == spot.id, AvailabilityWindow.during.op("&&")(during)
        )
    )
    blackouts = await session.scalars(
        select(AvailabilityBlackout.during).where(
            AvailabilityBlackout.spot_id == spot.id, AvailabilityBlackout.during.op("&&")(during)
        )
    )
    return Calendar(
        policy=policy_of(spot),
        rules=tuple(rule_of(r) for r in rules),
        windows=tuple(interval_of(w) for w in windows),
        blackouts=tuple(interval_of(b) for b in blackouts),
        bookings=await load_bookings(session, spot, bounds, now, exclude=exclude) if now is not None else (),
    )


async def refresh_open_ranges(session: AsyncSession, spot: Spot, now: datetime) -> int:
    bounds = Interval(now - PAST, now + timedelta(days=spot.horizon_days) + AHEAD_SLACK)
    calendar = await load_calendar(session, spot, bounds)
    open_times = calendar.open_times(bounds)
    await session.execute(delete(SpotOpenRange).where(SpotOpenRange.spot_id == spot.id))
    if open_times:
        await session.execute(
            insert(SpotOpenRange), [{"spot_id": spot.id, "during": range_of(i)} for i in open_times]
        )
    spot.open_ranges_until = bounds.end
    await session.flush()
    return len(open_times)


async def clear_open_ranges(session: AsyncSession, spot: Spot) -> None:
    await session.execute(delete(SpotOpenRange).where(SpotOpenRange.spot_id == spot.id))
    spot.open_ranges_until = None


async def extend_open_ranges(database: Database, *, batch: int = 200) -> int:
    """Recomputes the spots whose ranges no longer reach a day past their horizon.

    Batches lock their spots with SKIP LOCKED, so several processes share the work and a spot
    being edited right now is left to the edit, which recomputes it anyway.
    """
    done = 0
    now = utcnow()
    while True:
        async with database.sessionmaker() as session, session.begin():
            threshold = now + func.make_interval(0, 0, 0, Spot.horizon_days + 1)
            spots = (
                await session.scalars(
                    select(Spot)
                    .where(
                        Spot.deleted_at.is_(None),  # type: ignore[union-attr]
                        (Spot.open_ranges_until.is_(None)) | (Spot.open_ranges_until < threshold),  # type: ignore[union-attr, operator]
                    )
                    .order_by(Spot.open_ranges_until.nulls_first())  # type: ignore[union-attr]
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
