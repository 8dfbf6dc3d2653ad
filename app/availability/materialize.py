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

import asyncpg
from sqlalchemy import (
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.ext.asyncio import AsyncSession

from app.availability.models import SpotOpenRange
from app.clock import utcnow
from app.db import Database, raw_connection
from app.spots.models import Spot
from booking import BookingPolicy, Calendar, Interval, WeeklyRule

logger = logging.getLogger(__name__)

PAST = timedelta(days=1)
AHEAD_SLACK = timedelta(days=2)


def policy_of(spot: Spot) -> BookingPolicy:
    return BookingPolicy.of(spot, ZoneInfo(spot.timezone))


def interval_of(during: Range[object]) -> Interval:
    return Interval(during.lower, during.upper)  # type: ignore[arg-type]


def range_of(interval: Interval) -> Range[object]:
    return Range(interval.start, interval.end, bounds="[)")


# Everything deciding a spot's availability within [$2, $3), in one round trip: its rules, the
# windows and blackouts meeting the bounds and, with a time $4, the active bookings within reach
# [$5, $6) (the bounds widened by the buffer) except $7, each saying whether it blocks at $4: a
# hold or request past its deadline never blocks, even before it has been marked expired.
_CALENDAR = """
select 'rule' as kind, weekdays, start_minute, end_minute, valid_from, valid_until,
       null::timestamptz as lower, null::timestamptz as upper, null::boolean as blocks
from availability_rules where spot_id = $1
union all
select 'window', null, null, null, null, null, lower(during), upper(during), null
from availability_windows where spot_id = $1 and during && tstzrange($2, $3, '[)')
union all
select 'blackout', null, null, null, null, null, lower(during), upper(during), null
from availability_blackouts where spot_id = $1 and during && tstzrange($2, $3, '[)')
"""
_CALENDAR_BOOKINGS = """
union all
select 'booking', null, null, null, null, null, start_at, end_at,
       status = 'confirmed'
       or (status = 'held' and hold_expires_at > $4)
       or (status = 'requested' and request_expires_at > $4)
from bookings
where spot_id = $1 and status in ('held', 'requested', 'confirmed')
  and start_at < $6 and end_at > $5 and id is distinct from $7
"""


async def read_calendar(
    conn: asyncpg.Connection,
    spot_id: uuid.UUID,
    policy: BookingPolicy,
    bounds: Interval,
    *,
    now: datetime | None = None,
    exclude: uuid.UUID | None = None,
) -> tuple[Calendar, bool]:
    """The spot's calendar within `bounds` (with `now`, the bookings blocking then, those within
    the buffer of `bounds` too, except `exclude`), and whether a hold or request past its deadline
    but not yet marked expired lies in reach: a write there must expire it first, since the
    exclusion constraint still counts it. `conn` is the request's (`app.db.raw_connection`)."""
    if now is None:
        rows = await conn.fetch(_CALENDAR, spot_id, bounds.start, bounds.end)
    else:
        reach = bounds.widened(policy.buffer)
        rows = await conn.fetch(
            _CALENDAR + _CALENDAR_BOOKINGS,
            spot_id,
            bounds.start,
            bounds.end,
            now,
            reach.start,
            reach.end,
            exclude,
        )
    rules: list[WeeklyRule] = []
    found: dict[str, list[Interval]] = {"window": [], "blackout": [], "booking": []}
    stale = False
    for kind, weekdays, start_minute, end_minute, valid_from, valid_until, lower, upper, blocks in rows:
        if kind == "rule":
            rules.append(WeeklyRule(frozenset(weekdays), start_minute, end_minute, valid_from, valid_until))
        elif kind == "booking" and not blocks:
            stale = True
        else:
            found[kind].append(Interval(lower, upper))
    calendar = Calendar(
        policy=policy,
        rules=tuple(rules),
        windows=tuple(found["window"]),
        blackouts=tuple(found["blackout"]),
        bookings=tuple(found["booking"]),
    )
    return calendar, stale


async def load_calendar(
    session: AsyncSession,
    spot: Spot,
    bounds: Interval,
    *,
    now: datetime | None = None,
    exclude: uuid.UUID | None = None,
) -> Calendar:
    """`read_calendar` for a spot row, for readers."""
    conn = await raw_connection(session)
    calendar, _ = await read_calendar(conn, spot.id, policy_of(spot), bounds, now=now, exclude=exclude)
    return calendar


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
