"""An owner's earnings in one SQL statement per request.

A booking counts once it was paid: when it has ever been `confirmed` (completed, cancelled after
confirmation, overstayed, no-show alike); holds and requests that never were confirmed earned
nothing. It counts in the period of its start, in its spot's local time, and `from`/`to` are local
days too. The platform fee is taken per booking and rounded half up, then summed: each line is the
sum of its bookings to the cent, and the totals are the sum of the lines."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.earnings.schemas import EarningsLine, Group
from app.errors import ValidationProblem

# Days a statement may name: nothing was booked before, and date arithmetic stays far from its
# limits.
EARLIEST = date(2000, 1, 1)
LATEST = date(2200, 1, 1)
# A statement covers at most a year and a day (a leap year from any day to the same day).
MAX_DAYS = 366

_PER_BOOKING = """
with paid as (
    select b.spot_id, s.title as spot_title, b.currency,
           to_char(b.start_at at time zone s.timezone, 'YYYY-MM') as period,
           b.total_cents as booked, coalesce(b.refund_cents, 0) as refunded,
           {overstay} as overstay
    from bookings b
    join spots s on s.id = b.spot_id
    where s.owner_id = :owner_id
      and b.start_at >= (cast(cast(:from_day as date) as timestamp) at time zone s.timezone)
      and b.start_at < (cast(cast(:to_day as date) as timestamp) at time zone s.timezone)
      and exists (select from booking_events e where e.booking_id = b.id and e.to_status = 'confirmed')
), charged as (
    -- In bigint: a large booking times the basis points leaves PostgreSQL's integer range.
    select *, (greatest(cast(booked as bigint) - refunded + overstay, 0) * cast(:fee_bp as bigint) + 5000)
              / 10000 as fee
    from paid
)
select {keys}, currency, count(*) as bookings, sum(booked) as booked, sum(refunded) as refunded,
       sum(overstay) as overstay, sum(fee) as fee
from charged
group by {keys}, currency
order by {keys}, currency
"""
_KEYS: dict[Group, str] = {"month": "period", "spot": "spot_id, spot_title"}
_OVERSTAY = "b.overstay_cents"


def fee_basis_points(percent: Decimal) -> int:
    return int((percent * 100).to_integral_value())


def default_range(now: datetime) -> tuple[date, date]:
    """The last twelve months up to the end of this one (UTC)."""
    first = now.date().replace(day=1)
    to = (first + timedelta(days=32)).replace(day=1)
    return to.replace(year=to.year - 1), to


def check_range(start: date, end: date) -> None:
    if end <= start:
        raise ValidationProblem.field("to", "must be after `from`", where="query")
    if (end - start).days > MAX_DAYS:
        raise ValidationProblem.field("to", f"a statement covers at most {MAX_DAYS} days", where="query")


async def earnings(
    session: AsyncSession, owner_id: uuid.UUID, *, start: date, end: date, group: Group, fee_percent: Decimal
) -> tuple[list[EarningsLine], list[EarningsLine]]:
    check_range(start, end)
    keys = _KEYS[group]
    query = text(_PER_BOOKING.format(keys=keys, overstay=_OVERSTAY))
    rows = (
        await session.execute(
            query,
            {"owner_id": owner_id, "from_day": start, "to_day": end, "fee_bp": fee_basis_points(fee_percent)},
        )
    ).all()
    items = [_line(row._mapping, group) for row in rows]
    totals: dict[str, EarningsLine] = {}
    for item in items:
        total = totals.setdefault(
            item.currency,
            EarningsLine(
                period=None,
                spot_id=None,
                spot_title=None,
                currency=item.currency,
                bookings=0,
                booked_cents=0,
                refunded_cents=0,
                overstay_cents=0,
                platform_fee_cents=0,
                net_cents=0,
            ),
        )
        for name in (
            "bookings",
            "booked_cents",
            "refunded_cents",
            "overstay_cents",
            "platform_fee_cents",
            "net_cents",
        ):
            setattr(total, name, getattr(total, name) + getattr(item, name))
    return items, [totals[c] for c in sorted(totals)]


def _line(row: Any, group: Group) -> EarningsLine:
    booked, refunded, overstay, fee = (int(row[k]) for k in ("booked", "refunded", "overstay", "fee"))
    return EarningsLine(
        period=row["period"] if group == "month" else None,
        spot_id=row["spot_id"] if group == "spot" else None,
        spot_title=row["spot_title"] if group == "spot" else None,
        currency=row["currency"],
        bookings=int(row["bookings"]),
        booked_cents=booked,
        refunded_cents=refunded,
        overstay_cents=overstay,
        platform_fee_cents=fee,
        net_cents=booked - refunded + overstay - fee,
    )


CSV_COLUMNS = (
    "period",
    "spot_id",
    "spot_title",
    "currency",
    "bookings",
    "booked_cents",
    "refunded_cents",
    "overstay_cents",
    "platform_fee_cents",
    "net_cents",
)
