"""Availability of a spot: its rules, one-off windows and blackouts, and the free intervals."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.availability.calendar import load_calendar, policy_of
from app.availability.materialize import range_of, refresh_open_ranges
from app.availability.models import AvailabilityBlackout, AvailabilityRule, AvailabilityWindow
from app.availability.schemas import BlackoutCreate, RuleCreate, WindowCreate
from app.errors import NotFound, ValidationProblem
from app.pagination import PageParams, paginate
from app.spots.models import Spot
from booking import Interval, IntervalSet, WeeklyRule
from booking.intervals import format_instant

# Enough for any real calendar, small enough that expanding one spot stays cheap.
MAX_RULES = 50
MAX_SPANS = 500
LONGEST_QUERY = timedelta(days=31)
# No spot looks more than a year ahead (horizon_days <= 365): a window or blackout may end a year
# beyond that, a rule's dates may lie three years ahead (a lease); further is a mistake.
SPANS_AHEAD = timedelta(days=730)
RULE_DATES_AHEAD = timedelta(days=1095)

Span = type[AvailabilityWindow] | type[AvailabilityBlackout]


async def add_rule(session: AsyncSession, spot: Spot, data: RuleCreate, now: datetime) -> AvailabilityRule:
    count = await session.scalar(select(func.count()).where(col(AvailabilityRule.spot_id) == spot.id))
    if (count or 0) >= MAX_RULES:
        raise ValidationProblem.field(
            "weekdays", f"a spot has at most {MAX_RULES} rules; delete one first", "too_many"
        )
    last = (now + RULE_DATES_AHEAD).astimezone(ZoneInfo(spot.timezone)).date()
    for name in ("valid_from", "valid_until"):
        value = getattr(data, name)
        if value is not None and value > last:
            raise ValidationProblem.field(
                name, f"at most {RULE_DATES_AHEAD.days} days ahead (by {last.isoformat()})", "too_far_ahead"
            )
    parsed = WeeklyRule.parse(
        data.weekdays, data.start_time, data.end_time, data.valid_from, data.valid_until
    )
    rule = AvailabilityRule(
        spot_id=spot.id,
        weekdays=sorted(parsed.weekdays),
        start_minute=parsed.start_minute,
        end_minute=parsed.end_minute,
        valid_from=parsed.valid_from,
        valid_until=parsed.valid_until,
        created_at=now,
    )
    session.add(rule)
    await session.flush()
    await refresh_open_ranges(session, spot, now)
    return rule


async def add_span(
    session: AsyncSession, spot: Spot, model: Span, data: WindowCreate | BlackoutCreate, now: datetime
) -> Any:
    """A one-off window or a blackout: both are a stored range on the spot."""
    if data.end <= now:
        raise ValidationProblem.field("end", "lies in the past")
    if data.end > now + SPANS_AHEAD:
        latest = format_instant(now + SPANS_AHEAD)
        raise ValidationProblem.field(
            "end", f"at most {SPANS_AHEAD.days} days ahead (by {latest})", "too_far_ahead"
        )
    count = await session.scalar(
        select(func.count()).where(col(model.spot_id) == spot.id, func.upper(model.during) > now)
    )
    if (count or 0) >= MAX_SPANS:
        raise ValidationProblem.field(
            "start", f"a spot has at most {MAX_SPANS} upcoming entries here", "too_many"
        )
    row = model(spot_id=spot.id, during=range_of(Interval(data.start, data.end)), created_at=now)
    if isinstance(row, AvailabilityBlackout) and isinstance(data, BlackoutCreate):
        row.reason = data.reason
    session.add(row)
    await session.flush()
    await refresh_open_ranges(session, spot, now)
    return row


async def list_items(
    session: AsyncSession, spot: Spot, model: Any, page: PageParams
) -> tuple[list[Any], str | None]:
    return await paginate(session, select(model).where(model.spot_id == spot.id), model, page)


async def remove_item(
    session: AsyncSession, spot: Spot, model: Any, item_id: uuid.UUID, what: str, now: datetime
) -> None:
    result = await session.execute(delete(model).where(model.id == item_id, model.spot_id == spot.id))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"no such {what} on this spot")
    # Removing availability never touches existing bookings; it only narrows what is offered.
    await refresh_open_ranges(session, spot, now)


async def free(
    session: AsyncSession, spot: Spot, start: datetime, end: datetime, now: datetime
) -> IntervalSet:
    if end <= start:
        raise ValidationProblem.field("to", "must be after from", where="query")
    if end - start > LONGEST_QUERY:
        raise ValidationProblem.field("to", "at most 31 days after from", where="query")
    # Only where bookings may lie at all is read: nothing before now or past the horizon.
    bounds = Interval(start, end).intersection(policy_of(spot).bookable_window(now))
    if bounds is None:
        return IntervalSet()
    calendar = await load_calendar(session, spot, bounds, now=now)
    return calendar.free(bounds, now)
