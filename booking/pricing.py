"""Prices and refunds in integer cents.

Price: the hourly rate is charged per started granularity unit. A stay is split at each local
midnight of the spot's time zone and each day is priced on its own, rounded up to a whole cent;
with a daily cap, no day costs more than the cap, so a long stay pays the cap for full days and the
hourly rate for short ends.

Refunds by cancellation policy, for a cancellation made at `at`:

    flexible  full refund until the start
    moderate  full until 24 h before the start, then 50 % until the start
    strict    50 % until 24 h before the start, then nothing

After the start nothing is refunded. An owner's cancellation always refunds in full. Halves are
rounded down, so a refund never exceeds what was paid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from booking.availability import LONGEST_DURATION_MIN
from booking.intervals import Interval

# No booking is longer, so no price is ever needed for longer; pricing costs a step per day.
LONGEST_PRICED = timedelta(minutes=LONGEST_DURATION_MIN)


class CancellationPolicy(StrEnum):
    flexible = "flexible"
    moderate = "moderate"
    strict = "strict"


@dataclass(frozen=True, slots=True)
class Tariff:
    hourly_cents: int
    granularity_min: int
    timezone: ZoneInfo
    daily_cap_cents: int | None = None
    currency: str = "EUR"

    def __post_init__(self) -> None:
        if self.hourly_cents <= 0 or self.granularity_min <= 0:
            raise ValueError("hourly_cents and granularity_min must be positive")
        if self.daily_cap_cents is not None and self.daily_cap_cents <= 0:
            raise ValueError("daily_cap_cents must be positive")


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    amount_cents: int


@dataclass(frozen=True, slots=True)
class Quote:
    total_cents: int
    currency: str
    breakdown: tuple[Line, ...]


def units(length: timedelta, granularity_min: int) -> int:
    """Started granularity units in `length`."""
    step = timedelta(minutes=granularity_min)
    whole, rest = divmod(length, step)
    return int(whole) + (1 if rest else 0)


def _hourly_amount(unit_count: int, tariff: Tariff) -> int:
    # hourly * minutes / 60, rounded up to a whole cent: integer arithmetic, no floats.
    minutes = unit_count * tariff.granularity_min
    return -(-tariff.hourly_cents * minutes // 60)


def local_days(interval: Interval, tz: ZoneInfo) -> list[Interval]:
    """`interval` cut at each local midnight of `tz`."""
    pieces = []
    start = interval.start
    while start < interval.end:
        local = start.astimezone(tz)
        next_midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=tz)
        end = min(interval.end, next_midnight)
        pieces.append(Interval(start, end))
        start = end
    return pieces


def _duration_label(unit_count: int, granularity_min: int) -> str:
    hours, minutes = divmod(unit_count * granularity_min, 60)
    return " ".join(
        part for part in (f"{hours} h" if hours else "", f"{minutes} min" if minutes else "") if part
    )


def price(interval: Interval, tariff: Tariff) -> Quote:
    """One line per local calendar day, each rounded up to a whole cent and capped on its own.

    Pricing every stay day by day, capped or not, keeps the two consistent: a cap can only lower a
    price, and lengthening a stay can only add to its last day or add days. Check the interval
    against the spot's rules first: longer than `LONGEST_PRICED` is refused, not priced."""
    if interval.length > LONGEST_PRICED:
        raise ValueError(f"refusing to price more than {LONGEST_PRICED.days} days")
    lines: list[Line] = []
    rate = f"{tariff.hourly_cents / 100:.2f} {tariff.currency}/h"
    for day in local_days(interval, tariff.timezone):
        count = units(day.length, tariff.granularity_min)
        amount = _hourly_amount(count, tariff)
        date = day.start.astimezone(tariff.timezone).date().isoformat()
        label = f"{date}: {_duration_label(count, tariff.granularity_min)} at {rate}"
        if tariff.daily_cap_cents is not None and amount > tariff.daily_cap_cents:
            amount = tariff.daily_cap_cents
            label += f", capped at {tariff.daily_cap_cents / 100:.2f} {tariff.currency}/day"
        lines.append(Line(label, amount))
    return Quote(sum(line.amount_cents for line in lines), tariff.currency, tuple(lines))


DAY_BEFORE = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class RefundStep:
    until: datetime  # a cancellation before this instant refunds `refund_cents`
    refund_cents: int


def refund_schedule(policy: CancellationPolicy, paid_cents: int, start: datetime) -> tuple[RefundStep, ...]:
    """What a driver's cancellation refunds, in time order; after the last step, nothing."""
    half = paid_cents // 2
    if policy is CancellationPolicy.flexible:
        steps = [RefundStep(start, paid_cents)]
    elif policy is CancellationPolicy.moderate:
        steps = [RefundStep(start - DAY_BEFORE, paid_cents), RefundStep(start, half)]
    else:
        steps = [RefundStep(start - DAY_BEFORE, half)]
    return tuple(s for s in steps if s.refund_cents > 0)


def refund(
    policy: CancellationPolicy, paid_cents: int, start: datetime, at: datetime, *, by_owner: bool = False
) -> int:
    if by_owner:
        return paid_cents
    for step in refund_schedule(policy, paid_cents, start):
        if at < step.until:
            return step.refund_cents
    return 0
