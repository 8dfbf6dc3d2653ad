"""At the spot: when a driver may check in, what an overstay costs, what a no-show is charged.

Check-in opens `CHECK_IN_OPENS` before the start and closes at the end. A driver who checked in
and leaves by the end plus the spot's grace pays nothing more. Past that grace the overstay is
counted from the booking's end, per started granularity unit, at the spot's overstay rate: the
grace is a tolerance, not a free extension (as in a garage, a driver 25 minutes late with a
10-minute grace pays for 25 minutes, two started 15-minute units). At most `OVERSTAY_CAP` is
charged: a driver who never checks out is charged that much when the system completes the
booking. The fee only grows with the check-out time.

A no-show is charged like a cancellation made at the start: the price minus the policy's refund
at that instant, never more than the price. (Every policy refunds nothing from the start on, so
with today's policies that is the whole price.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from booking.pricing import CancellationPolicy, refund, units

CHECK_IN_OPENS = timedelta(minutes=15)
# The most overstay a booking is charged for; the system completes a booking this long after its
# end if its driver never checks out.
OVERSTAY_CAP = timedelta(hours=24)
# The overstay rate when the owner sets none: 1.5 times the hourly price.
DEFAULT_OVERSTAY_FACTOR = (3, 2)


def default_overstay_hourly_cents(hourly_cents: int) -> int:
    """1.5 times the hourly price, rounded up to a whole cent."""
    numerator, denominator = DEFAULT_OVERSTAY_FACTOR
    return -(-hourly_cents * numerator // denominator)


def overstay_hourly_cents(hourly_cents: int, overstay_hourly_cents: int | None) -> int:
    """The overstay rate in force: the owner's, or the default."""
    if overstay_hourly_cents is not None:
        return overstay_hourly_cents
    return default_overstay_hourly_cents(hourly_cents)


def check_in_opens(start: datetime) -> datetime:
    return start - CHECK_IN_OPENS


def overstay_due(end: datetime, grace_min: int) -> datetime:
    """From this instant a checked-in booking not checked out has overstayed."""
    return end + timedelta(minutes=grace_min)


def overstay_fee(
    *, end: datetime, left_at: datetime, grace_min: int, granularity_min: int, hourly_cents: int
) -> int:
    """The overstay fee in cents for a car that left at `left_at` (its check-out, or the cap)."""
    if grace_min < 0 or granularity_min <= 0 or hourly_cents < 0:
        raise ValueError("grace_min and hourly_cents must not be negative, granularity_min positive")
    if left_at <= overstay_due(end, grace_min):
        return 0
    length = min(left_at - end, OVERSTAY_CAP)
    minutes = units(length, granularity_min) * granularity_min
    # hourly * minutes / 60, rounded up to a whole cent, as prices are.
    return -(-hourly_cents * minutes // 60)


def most_overstay_fee(*, grace_min: int, granularity_min: int, hourly_cents: int) -> int:
    """The fee at the cap: the most an overstay ever costs."""
    end = datetime(2000, 1, 1, tzinfo=UTC)
    return overstay_fee(
        end=end,
        left_at=end + OVERSTAY_CAP + timedelta(minutes=grace_min),
        grace_min=grace_min,
        granularity_min=granularity_min,
        hourly_cents=hourly_cents,
    )


def no_show_due(start: datetime, end: datetime, no_show_after_min: int) -> datetime:
    """When a booking without check-in becomes a no-show: `no_show_after_min` after the start,
    or at its end if that comes first."""
    return min(start + timedelta(minutes=no_show_after_min), end)


def no_show_refund(policy: CancellationPolicy, paid_cents: int, start: datetime) -> int:
    """What a no-show gets back: the policy's refund for a cancellation made at the start."""
    return refund(policy, paid_cents, start, start)


def no_show_charge(policy: CancellationPolicy, paid_cents: int, start: datetime) -> int:
    """The price minus the refund at the start: never more than the price, never negative."""
    return paid_cents - no_show_refund(policy, paid_cents, start)
