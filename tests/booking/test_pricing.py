from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.intervals import Interval
from booking.pricing import CancellationPolicy, Tariff, local_days, price, refund, refund_schedule, units

BERLIN = ZoneInfo("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_hourly_price_per_started_unit() -> None:
    tariff = Tariff(hourly_cents=250, granularity_min=15, timezone=BERLIN)
    assert price(Interval(utc(2026, 12, 1, 8), utc(2026, 12, 1, 10)), tariff).total_cents == 500
    # 45 minutes: three quarter hours of 62.5 cents, rounded up once for the whole stay.
    assert price(Interval(utc(2026, 12, 1, 8), utc(2026, 12, 1, 8, 45)), tariff).total_cents == 188
    # A started unit counts whole.
    assert units(timedelta(minutes=16), 15) == 2
    quote = price(Interval(utc(2026, 12, 1, 8), utc(2026, 12, 1, 10, 30)), tariff)
    assert [(line.label, line.amount_cents) for line in quote.breakdown] == [
        ("2026-12-01: 2 h 30 min at 2.50 EUR/h", 625)
    ]


def test_daily_cap_applies_per_local_calendar_day() -> None:
    tariff = Tariff(hourly_cents=300, granularity_min=60, timezone=BERLIN, daily_cap_cents=1500)
    # Monday 20:00 to Wednesday 10:00 Berlin time: 4 h, a full day (capped), 10 h (capped).
    stay = Interval(utc(2026, 11, 30, 19), utc(2026, 12, 2, 9))
    quote = price(stay, tariff)
    assert [line.amount_cents for line in quote.breakdown] == [1200, 1500, 1500]
    assert quote.total_cents == 4200
    assert quote.breakdown[1].label == "2026-12-01: 24 h at 3.00 EUR/h, capped at 15.00 EUR/day"


def test_nothing_longer_than_a_booking_is_priced() -> None:
    # Pricing takes a step per day: a 50-year quote took 0.3 s and 1 MiB before it was refused.
    tariff = Tariff(hourly_cents=250, granularity_min=15, timezone=BERLIN)
    start = utc(2026, 12, 1)
    assert price(Interval(start, start + timedelta(days=30)), tariff).total_cents == 30 * 24 * 250
    with pytest.raises(ValueError, match="refusing to price more than 30 days"):
        price(Interval(start, start + timedelta(days=30, minutes=15)), tariff)


def test_local_days_follow_dst() -> None:
    # The Sunday clocks go forward has 23 hours.
    days = local_days(Interval(utc(2027, 3, 27, 22), utc(2027, 3, 28, 23)), BERLIN)
    assert [d.length for d in days] == [timedelta(hours=1), timedelta(hours=23), timedelta(hours=1)]


def test_refund_schedules() -> None:
    start = utc(2026, 12, 10, 8)
    assert refund_schedule(CancellationPolicy.flexible, 1000, start)[0].until == start
    moderate = refund_schedule(CancellationPolicy.moderate, 1001, start)
    assert [(s.until, s.refund_cents) for s in moderate] == [
        (start - timedelta(hours=24), 1001),
        (start, 500),
    ]
    assert [(s.until, s.refund_cents) for s in refund_schedule(CancellationPolicy.strict, 1001, start)] == [
        (start - timedelta(hours=24), 500)
    ]
    day_before = start - timedelta(hours=24)
    for policy, early, late, after in (
        (CancellationPolicy.flexible, 1000, 1000, 0),
        (CancellationPolicy.moderate, 1000, 500, 0),
        (CancellationPolicy.strict, 500, 0, 0),
    ):
        assert refund(policy, 1000, start, day_before - timedelta(seconds=1)) == early
        assert refund(policy, 1000, start, day_before) == late
        assert refund(policy, 1000, start, start) == after
        assert refund(policy, 1000, start, start + timedelta(hours=1), by_owner=True) == 1000


tariffs = st.builds(
    Tariff,
    hourly_cents=st.integers(1, 2000),
    granularity_min=st.sampled_from([5, 10, 15, 20, 30, 60]),
    timezone=st.sampled_from([BERLIN, ZoneInfo("America/New_York"), ZoneInfo("UTC")]),
    daily_cap_cents=st.one_of(st.none(), st.integers(1, 20000)),
)
starts = st.integers(0, 400 * 24 * 12).map(lambda n: utc(2026, 1, 1) + timedelta(minutes=5 * n))


@given(tariffs, starts, st.integers(1, 2000), st.integers(0, 2000))
def test_price_never_decreases_when_lengthened(tariff: Tariff, start: datetime, a: int, extra: int) -> None:
    short = price(Interval(start, start + timedelta(minutes=5 * a)), tariff)
    long = price(Interval(start, start + timedelta(minutes=5 * (a + extra))), tariff)
    assert long.total_cents >= short.total_cents


@given(tariffs, starts, st.integers(1, 3000))
def test_price_respects_the_caps(tariff: Tariff, start: datetime, length: int) -> None:
    stay = Interval(start, start + timedelta(minutes=5 * length))
    quote = price(stay, tariff)
    assert quote.total_cents == sum(line.amount_cents for line in quote.breakdown)
    uncapped = price(stay, Tariff(tariff.hourly_cents, tariff.granularity_min, tariff.timezone))
    assert quote.total_cents <= uncapped.total_cents
    if tariff.daily_cap_cents is not None:
        assert all(line.amount_cents <= tariff.daily_cap_cents for line in quote.breakdown)
        assert quote.total_cents <= tariff.daily_cap_cents * len(local_days(stay, tariff.timezone))
    # Uncapped: the exact minutes at the hourly rate, plus at most one started unit and a cent of
    # rounding per day.
    exact = Fraction(tariff.hourly_cents) * Fraction(int(stay.length.total_seconds()), 3600)
    days = len(uncapped.breakdown)
    assert (
        exact
        <= uncapped.total_cents
        <= exact + days * (tariff.hourly_cents * tariff.granularity_min / 60 + 1)
    )


@given(
    st.sampled_from(list(CancellationPolicy)),
    st.integers(0, 100_000),
    starts,
    st.integers(-5000, 5000),
    st.integers(0, 5000),
)
def test_refunds_never_exceed_the_price_and_shrink_with_time(
    policy: CancellationPolicy, paid: int, start: datetime, offset: int, later: int
) -> None:
    at = start + timedelta(minutes=offset)
    now_refund = refund(policy, paid, start, at)
    later_refund = refund(policy, paid, start, at + timedelta(minutes=later))
    assert 0 <= later_refund <= now_refund <= paid
    assert refund(policy, paid, start, at, by_owner=True) == paid
