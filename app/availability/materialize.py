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
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Date,
    SmallInteger,
    and_,
    cast,
    delete,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSTZRANGE, Range
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
    return BookingPolicy.of(spot, ZoneInfo(spot.timezone))


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


def _nulls(*types: Any) -> list[Any]:
    return [cast(null(), t) for t in types]


async def load_calendar(
    session: AsyncSession,
    spot: Spot,
    bounds: Interval,
    *,
    now: datetime | None = None,
    exclude: uuid.UUID | None = None,
) -> Calendar:
    """Everything deciding the spot's availability within `bounds`, in one round trip: its rules,
    the windows and blackouts meeting `bounds`, and with `now` the bookings blocking then (those
    within the buffer of `bounds` too), except `exclude`."""
    during = func.tstzrange(bounds.start, bounds.end, "[)")
    rule_columns = (ARRAY(SmallInteger), SmallInteger, SmallInteger, Date, Date)
    parts = [
        select(
            literal("rule").label("kind"),
            AvailabilityRule.weekdays,
            AvailabilityRule.start_minute,
            AvailabilityRule.end_minute,
            AvailabilityRule.valid_from,
            AvailabilityRule.valid_until,
            cast(null(), TSTZRANGE).label("during"),
        ).where(AvailabilityRule.spot_id == spot.id)
    ]
    for kind, model in (("window", AvailabilityWindow), ("blackout", AvailabilityBlackout)):
        parts.append(
            select(literal(kind), *_nulls(*rule_columns), model.during).where(
                model.spot_id == spot.id, model.during.op("&&")(during)
            )
        )
    if now is not None:
        reach = bounds.widened(timedelta(minutes=spot.buffer_min))
        booked = select(
            literal("booking"),
            *_nulls(*rule_columns),
            type_coerce(func.tstzrange(Booking.start_at, Booking.end_at, "[)"), TSTZRANGE),
        ).where(
            Booking.spot_id == spot.id,
            blocking(now),
            Booking.start_at < reach.end,
            Booking.end_at > reach.start,
        )
        if exclude is not None:
            booked = booked.where(Booking.id != exclude)
        parts.append(booked)
    rows = (await session.execute(union_all(*parts))).all()
    found: dict[str, list[Any]] = {"rule": [], "window": [], "blackout": [], "booking": []}
    for kind, weekdays, start_minute, end_minute, valid_from, valid_until, span in rows:
        if kind == "rule":
            found[kind].append(
                WeeklyRule(frozenset(weekdays), start_minute, end_minute, valid_from, valid_until)
            )
        else:
            found[kind].append(interval_of(span))
    return Calendar(
        policy=policy_of(spot),
        rules=tuple(found["rule"]),
        windows=tuple(found["window"]),
        blackouts=tuple(found["blackout"]),
        bookings=tuple(found["booking"]),
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
