"""A spot's calendar as the engine needs it (`booking.Calendar`): its weekly rules, windows and
blackouts and, for a time `now`, the active bookings in reach with whether each still blocks.

Booking writes read it on the raw connection with the spot locked (`read_calendar`); readers
start from a spot row (`load_calendar`). It reads the rule, window and blackout rows themselves,
not the materialised `spot_open_ranges` (`materialize.py`), which only search reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import raw_connection
from app.spots.models import Spot
from booking import BookingPolicy, Calendar, Interval, WeeklyRule
from booking.sql import ACTIVE_SQL, still_blocks


def policy_of(spot: Spot) -> BookingPolicy:
    return BookingPolicy.of(spot, ZoneInfo(spot.timezone))


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
_CALENDAR_BOOKINGS = f"""
union all
select 'booking', null, null, null, null, null, start_at, end_at, {still_blocks("$4")}
from bookings
where spot_id = $1 and {ACTIVE_SQL}
  and start_at < $6 and end_at > $5 and id is distinct from $7
"""  # noqa: S608 (constant fragments, no input)


class CalendarRead(NamedTuple):
    calendar: Calendar
    # A hold or request past its deadline, not yet marked expired, lies in reach.
    stale: bool


async def read_calendar(
    conn: asyncpg.Connection,
    spot_id: uuid.UUID,
    policy: BookingPolicy,
    bounds: Interval,
    *,
    now: datetime | None = None,
    exclude: uuid.UUID | None = None,
) -> CalendarRead:
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
    return calendar_of(rows, policy)


def calendar_of(rows: Iterable[asyncpg.Record], policy: BookingPolicy) -> CalendarRead:
    """The calendar from rows of `_CALENDAR` (and `_CALENDAR_BOOKINGS`), or of the same columns
    first (`parkshare_spot_calendar`, migration 0015)."""
    rules: list[WeeklyRule] = []
    found: dict[str, list[Interval]] = {"window": [], "blackout": [], "booking": []}
    stale = False
    for row in rows:
        kind, weekdays, start_minute, end_minute, valid_from, valid_until, lower, upper, blocks = row[:9]
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
    return CalendarRead(calendar, stale)


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
