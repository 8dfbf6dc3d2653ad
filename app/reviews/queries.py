"""The SQL of ratings: what the spot views, search and the owner's view of a request read.

A review counts from its `visible_at` on (the request's `now`, never the database's clock) until an
admin hides it. Both aggregates are answered from the partial indexes of `app/reviews/models.py`
alone (the rating is included in them).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.schemas import Rating

# Averages: one decimal, rounded half away from zero as `numeric` rounds (`avg` of integers is
# numeric), then float8 so that it travels as a JSON number.

# A lateral subquery for search: the rating of the spot `{spot_id}` (an SQL expression) at `{now}`.
# An aggregate without GROUP BY always answers one row: count 0, average null for an unrated spot.
SPOT_RATING_SQL = """
select round(avg(r.rating), 1)::float8 as average, count(*)::int as count
from reviews r
where r.spot_id = {spot_id} and r.author_role = 'driver' and r.hidden_at is null and r.visible_at <= {now}
"""

_SPOT_RATINGS = text(
    """
select r.spot_id as id, round(avg(r.rating), 1)::float8 as average, count(*)::int as count
from reviews r
where r.spot_id = any(:ids) and r.author_role = 'driver' and r.hidden_at is null and r.visible_at <= :now
group by r.spot_id
"""
)

_DRIVER_RATINGS = text(
    """
select r.subject_id as id, round(avg(r.rating), 1)::float8 as average, count(*)::int as count
from reviews r
where r.subject_id = any(:ids) and r.author_role = 'owner' and r.hidden_at is null and r.visible_at <= :now
group by r.subject_id
"""
)


async def _ratings(
    session: AsyncSession, statement: object, ids: Sequence[uuid.UUID], now: datetime
) -> Mapping[uuid.UUID, Rating]:
    if not ids:
        return {}
    rows = await session.execute(statement, {"ids": list(set(ids)), "now": now})  # type: ignore[call-overload]
    return {row.id: Rating(average=row.average, count=row.count) for row in rows}


async def spot_ratings(
    session: AsyncSession, spot_ids: Sequence[uuid.UUID], now: datetime
) -> Mapping[uuid.UUID, Rating]:
    """The drivers' shown reviews of each spot; spots without any are left out."""
    return await _ratings(session, _SPOT_RATINGS, spot_ids, now)


async def driver_ratings(
    session: AsyncSession, driver_ids: Sequence[uuid.UUID], now: datetime
) -> Mapping[uuid.UUID, Rating]:
    """The owners' shown reviews of each driver; drivers without any are left out."""
    return await _ratings(session, _DRIVER_RATINGS, driver_ids, now)
