from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.availability import (
    GRANULARITIES,
    BookingPolicy,
    Calendar,
    IntervalReason,
    ReasonCode,
    Refusal,
    check_extension,
)
from booking.intervals import Interval, IntervalSet
from booking.weekly import WeeklyRule

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)  # a Sunday, 10:00 in Berlin


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def iv(a: datetime, b: datetime) -> Interval:
    return Interval(a, b)


OFFICE = WeeklyRule.parse(["mon", "tue", "wed", "thu", "fri"], "08:00", "18:00")
WEEK = iv(utc(2026, 11, 23), utc(2026, 11, 30))


def test_free_is_rules_plus_windows_minus_blackouts_and_buffered_bookings() -> None:
    calendar = Calendar(
        policy=BookingPolicy(BERLIN, buffer_min=15),
        rules=(OFFICE,),
        windows=(iv(utc(2026, 11, 28, 9), utc(2026, 11, 28, 13)),),  # Saturday 10:00-14:00
        blackouts=(iv(utc(2026, 11, 25, 7), utc(2026, 11, 25, 17)),),  # all of Wednesday
        bookings=(iv(utc(2026, 11, 24, 10), utc(2026, 11, 24, 12)),),  # Tuesday 11:00-13:00
    )
    assert list(calendar.free(WEEK, NOW)) == [
        iv(utc(2026, 11, 23, 7), utc(2026, 11, 23, 17)),
        iv(utc(2026, 11, 24, 7), utc(2026, 11, 24, 9, 45)),
        iv(utc(2026, 11, 24, 12, 15), utc(2026, 11, 24, 17)),
        iv(utc(2026, 11, 26, 7), utc(2026, 11, 26, 17)),
        iv(utc(2026, 11, 27, 7), utc(2026, 11, 27, 17)),
        iv(utc(2026, 11, 28, 9), utc(2026, 11, 28, 13)),
    ]


def test_lead_time_and_horizon_clip_and_boundaries_snap_to_the_granularity() -> None:
    policy = BookingPolicy(BERLIN, granularity_min=30, min_duration_min=60, lead_time_min=50, horizon_days=2)
    calendar = Calendar(policy=policy, rules=(WeeklyRule.parse(["sun", "mon", "tue"], "00:00", "24:00"),))
    now = utc(2026, 11, 22, 9, 7)  # lead time ends 09:57 UTC: the first bookable start is 10:00
    free = list(calendar.free(iv(utc(2026, 11, 22), utc(2026, 11, 30)), now))
    assert free == [iv(utc(2026, 11, 22, 10), utc(2026, 11, 24, 9))]  # horizon: now + 2 days, floored


def test_pieces_shorter_than_the_minimum_are_not_free() -> None:
    calendar = Calendar(
        policy=BookingPolicy(BERLIN, min_duration_min=60),
        rules=(OFFICE,),
        bookings=(iv(utc(2026, 11, 23, 7, 30), utc(2026, 11, 23, 16)),),
    )
    monday = iv(utc(2026, 11, 23), utc(2026, 11, 24))
    assert list(calendar.free(monday, NOW)) == [iv(utc(2026, 11, 23, 16), utc(2026, 11, 23, 17))]


def test_check_gives_the_reason() -> None:
    calendar = Calendar(
        policy=BookingPolicy(BERLIN, buffer_min=30, lead_time_min=60, horizon_days=30, max_duration_min=600),
        rules=(OFFICE,),
        blackouts=(iv(utc(2026, 11, 25, 7), utc(2026, 11, 25, 17)),),
        bookings=(iv(utc(2026, 11, 24, 10), utc(2026, 11, 24, 12)),),
    )
    ok = iv(utc(2026, 11, 23, 8), utc(2026, 11, 23, 10))
    assert calendar.check(ok, NOW) is None
    invalid = ReasonCode.invalid_interval
    for wanted, refusal in (
        (
            iv(utc(2026, 11, 23, 8, 5), utc(2026, 11, 23, 10)),
            Refusal(invalid, IntervalReason.not_on_granularity, 15),
        ),
        (iv(utc(2026, 11, 23, 8), utc(2026, 11, 23, 8, 15)), Refusal(invalid, IntervalReason.too_short, 30)),
        (iv(utc(2026, 11, 23, 7), utc(2026, 11, 23, 17, 15)), Refusal(invalid, IntervalReason.too_long, 600)),
        (
            iv(utc(2026, 11, 22, 9, 30), utc(2026, 11, 22, 11)),
            Refusal(invalid, IntervalReason.inside_lead_time, 60),
        ),
        (
            iv(utc(2026, 12, 22, 8), utc(2026, 12, 22, 10)),
            Refusal(invalid, IntervalReason.beyond_horizon, utc(2026, 12, 22, 9)),
        ),
        (iv(utc(2026, 11, 22, 8), utc(2026, 11, 22, 10)), Refusal(invalid, IntervalReason.in_the_past, NOW)),
        (iv(utc(2026, 11, 23, 16), utc(2026, 11, 23, 18)), Refusal(ReasonCode.outside_availability)),
        (
            iv(utc(2026, 11, 25, 8), utc(2026, 11, 25, 9)),
            Refusal(ReasonCode.outside_availability),
        ),  # blackout
        (
            iv(utc(2026, 11, 24, 12), utc(2026, 11, 24, 13)),
            Refusal(ReasonCode.slot_unavailable),
        ),  # in the buffer
        (iv(utc(2026, 11, 24, 11), utc(2026, 11, 24, 13)), Refusal(ReasonCode.slot_unavailable)),
    ):
        assert calendar.check(wanted, NOW) == refusal, wanted
    # Exactly after the buffer is fine: half-open intervals.
    assert calendar.check(iv(utc(2026, 11, 24, 12, 30), utc(2026, 11, 24, 14)), NOW) is None
    # An `Interval` cannot end before it starts; the rules check takes the two ends as sent.
    reversed_ = calendar.policy.check_interval(utc(2026, 11, 23, 10), utc(2026, 11, 23, 8), NOW)
    assert reversed_ == Refusal(invalid, IntervalReason.end_before_start, utc(2026, 11, 23, 10))


def test_refusals_say_it_in_words() -> None:
    invalid = ReasonCode.invalid_interval
    for refusal, detail in (
        (
            Refusal(invalid, IntervalReason.end_before_start, utc(2026, 11, 23, 10)),
            "the end must be after 2026-11-23T10:00:00Z",
        ),
        (
            Refusal(invalid, IntervalReason.not_on_granularity, 15),
            "start and end must lie on this spot's 15-minute grid: start at :00, :15, :30 or :45 "
            "(local time)",
        ),
        (
            Refusal(invalid, IntervalReason.not_on_granularity, 60),
            "start and end must lie on this spot's 60-minute grid: start at :00 (local time)",
        ),
        (Refusal(invalid, IntervalReason.too_short, 30), "a booking of this spot lasts at least 30 minutes"),
        (Refusal(invalid, IntervalReason.too_long, 43_200), "a booking of this spot lasts at most 30 days"),
        (Refusal(invalid, IntervalReason.too_long, 600), "a booking of this spot lasts at most 10 hours"),
        (
            Refusal(invalid, IntervalReason.in_the_past, NOW),
            "the interval starts in the past (now is 2026-11-22T09:00:00Z)",
        ),
        (
            Refusal(invalid, IntervalReason.inside_lead_time, 60),
            "a booking of this spot must start at least 1 hour ahead",
        ),
        (
            Refusal(invalid, IntervalReason.inside_lead_time, 90),
            "a booking of this spot must start at least 90 minutes ahead",
        ),
        (
            Refusal(invalid, IntervalReason.beyond_horizon, utc(2026, 12, 22, 9)),
            "a booking of this spot must end by 2026-12-22T09:00:00Z",
        ),
        (Refusal(ReasonCode.outside_availability), "the spot is not offered for the whole interval"),
        (Refusal(ReasonCode.slot_unavailable), "the spot is taken for part of the interval"),
    ):
        assert refusal.detail == detail
    # Search speaks of the rules of every spot at once.
    assert Refusal(invalid, IntervalReason.too_long, 43_200).describe("any spot") == (
        "a booking of any spot lasts at most 30 days"
    )


def test_extension_refusals() -> None:
    calendar = Calendar(
        policy=BookingPolicy(BERLIN, horizon_days=30, max_duration_min=600, lead_time_min=600),
        rules=(OFFICE,),
    )
    booking = iv(utc(2026, 11, 23, 8), utc(2026, 11, 23, 10))
    invalid = ReasonCode.invalid_interval
    for new_end, refusal in (
        (utc(2026, 11, 23, 10), Refusal(invalid, IntervalReason.end_before_start, utc(2026, 11, 23, 10))),
        (utc(2026, 11, 23, 9), Refusal(invalid, IntervalReason.end_before_start, utc(2026, 11, 23, 10))),
        (utc(2026, 11, 23, 11, 10), Refusal(invalid, IntervalReason.not_on_granularity, 15)),
        (utc(2026, 11, 23, 18, 15), Refusal(invalid, IntervalReason.too_long, 600)),
        (utc(2026, 11, 23, 17, 15), Refusal(ReasonCode.outside_availability)),
    ):
        assert check_extension(calendar, booking, new_end, NOW) == refusal, new_end
    # Lead time is for new bookings only: seen from 09:30 this one has started, and may go on.
    assert check_extension(calendar, booking, utc(2026, 11, 23, 11), utc(2026, 11, 23, 9, 30)) is None
    far = iv(utc(2026, 12, 22, 6), utc(2026, 12, 22, 8))
    assert check_extension(calendar, far, utc(2026, 12, 22, 9, 15), NOW) == Refusal(
        invalid, IntervalReason.beyond_horizon, utc(2026, 12, 22, 9)
    )


def test_free_in_the_dst_weeks() -> None:
    policy = BookingPolicy(BERLIN)
    saturday = WeeklyRule.parse(["sat"], "09:00", "13:00")
    calendar = Calendar(policy=policy, rules=(OFFICE, saturday))
    now = utc(2026, 3, 1)
    march = list(calendar.free(iv(utc(2026, 3, 27), utc(2026, 3, 31)), now))
    assert march == [
        iv(utc(2026, 3, 27, 7), utc(2026, 3, 27, 17)),  # Friday, winter time
        iv(utc(2026, 3, 28, 8), utc(2026, 3, 28, 12)),  # Saturday, winter time
        iv(utc(2026, 3, 30, 6), utc(2026, 3, 30, 16)),  # Monday, summer time
    ]
    now = utc(2026, 10, 1)
    october = list(calendar.free(iv(utc(2026, 10, 23), utc(2026, 10, 27)), now))
    assert october == [
        iv(utc(2026, 10, 23, 6), utc(2026, 10, 23, 16)),
        iv(utc(2026, 10, 24, 7), utc(2026, 10, 24, 11)),
        iv(utc(2026, 10, 26, 7), utc(2026, 10, 26, 17)),
    ]


def test_policy_validation() -> None:
    for kwargs in (
        {"granularity_min": 7},
        {"min_duration_min": 20},  # not a multiple of 15
        {"min_duration_min": 60, "max_duration_min": 45},
        {"lead_time_min": -1},
        {"horizon_days": 0},
        {"horizon_days": 366},  # no spot looks further ahead than a year
        {"max_duration_min": 43_215},  # nor lasts longer than 30 days
    ):
        with pytest.raises(ValueError, match="must"):
            BookingPolicy(BERLIN, **kwargs)  # type: ignore[arg-type]


# Random calendars on a 15-minute grid over three days.
MONDAY = utc(2026, 11, 23)


def q(n: int) -> datetime:
    return MONDAY + timedelta(minutes=15 * n)


@st.composite
def spans(draw: st.DrawFn) -> Interval:
    a = draw(st.integers(0, 280))
    b = draw(st.integers(a + 1, 288))
    return iv(q(a), q(b))


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    policy = BookingPolicy(
        ZoneInfo("UTC"),
        granularity_min=15,
        min_duration_min=draw(st.sampled_from([15, 30, 60])),
        max_duration_min=draw(st.sampled_from([120, 600, 43200])),
        lead_time_min=draw(st.sampled_from([0, 45])),
        horizon_days=draw(st.sampled_from([1, 2, 90])),
        buffer_min=draw(st.sampled_from([0, 15, 30])),
    )
    return Calendar(
        policy=policy,
        rules=tuple(
            draw(
                st.lists(
                    st.builds(lambda d: WeeklyRule(frozenset({d}), 8 * 60, 18 * 60), st.integers(0, 6)),
                    max_size=2,
                )
            )
        ),
        windows=tuple(draw(st.lists(spans(), max_size=4))),
        blackouts=tuple(draw(st.lists(spans(), max_size=3))),
        bookings=tuple(draw(st.lists(spans(), max_size=3))),
    )


@given(calendars(), spans(), st.integers(0, 100))
def test_check_agrees_with_free(calendar: Calendar, wanted: Interval, now_q: int) -> None:
    now = q(now_q)
    bounds = iv(q(-100), q(400))
    free = calendar.free(bounds, now)
    policy = calendar.policy
    fits_rules = policy.min_duration_min <= wanted.length / timedelta(minutes=1) <= policy.max_duration_min
    assert (calendar.check(wanted, now) is None) == (fits_rules and free.contains(wanted))


@given(calendars(), st.integers(0, 100))
def test_free_never_touches_blackouts_or_buffered_bookings(calendar: Calendar, now_q: int) -> None:
    now = q(now_q)
    free = calendar.free(iv(q(-100), q(400)), now)
    assert not free & IntervalSet(calendar.blackouts)
    assert not free & calendar.taken()
    assert free - calendar.open_times(iv(q(-100), q(400))) == IntervalSet()
    assert all(i.start >= now + timedelta(minutes=calendar.policy.lead_time_min) for i in free)


# Random intervals on a 5-minute grid around `MONDAY`, and rules of every kind.
def f(n: int) -> datetime:
    return MONDAY + timedelta(minutes=5 * n)


@st.composite
def policies(draw: st.DrawFn) -> BookingPolicy:
    granularity = draw(st.sampled_from(GRANULARITIES))
    shortest = granularity * draw(st.integers(1, 8))
    return BookingPolicy(
        draw(st.sampled_from([ZoneInfo("UTC"), BERLIN, ZoneInfo("Asia/Kathmandu")])),
        granularity_min=granularity,
        min_duration_min=shortest,
        max_duration_min=draw(st.sampled_from([shortest, max(shortest, 600), 43_200])),
        lead_time_min=draw(st.sampled_from([0, 45, 600])),
        horizon_days=draw(st.integers(1, 365)),
    )


fives = st.integers(-2 * 288, 370 * 288)


@given(policies(), fives, fives, st.integers(-288, 288), st.integers(0, 299))
def test_the_reason_names_the_rule_broken_and_its_limit(
    policy: BookingPolicy, a: int, b: int, now_n: int, seconds: int
) -> None:
    start, end, now = f(a), f(b), f(now_n) + timedelta(seconds=seconds)
    refusal = policy.check_interval(start, end, now)
    minutes = (end - start) / timedelta(minutes=1)
    lead = now + timedelta(minutes=policy.lead_time_min)
    horizon = now + timedelta(days=policy.horizon_days)
    broken = {
        IntervalReason.end_before_start: end <= start,
        IntervalReason.in_the_past: start < now,
        IntervalReason.not_on_granularity: not (policy.is_aligned(start) and policy.is_aligned(end)),
        IntervalReason.too_short: minutes < policy.min_duration_min,
        IntervalReason.too_long: minutes > policy.max_duration_min,
        IntervalReason.inside_lead_time: start < lead,
        IntervalReason.beyond_horizon: end > horizon,
    }
    assert (refusal is None) == (not any(broken.values()))
    if refusal is None:
        return
    assert refusal.code is ReasonCode.invalid_interval
    assert refusal.reason is not None
    assert broken[refusal.reason]
    limits: dict[IntervalReason, object] = {
        IntervalReason.end_before_start: start,
        IntervalReason.in_the_past: now,
        IntervalReason.not_on_granularity: policy.granularity_min,
        IntervalReason.too_short: policy.min_duration_min,
        IntervalReason.too_long: policy.max_duration_min,
        IntervalReason.inside_lead_time: policy.lead_time_min,
    }
    if refusal.reason is IntervalReason.beyond_horizon:
        # The latest end allowed: on the grid, within the horizon, less than a step before it.
        assert isinstance(refusal.limit, datetime)
        assert policy.is_aligned(refusal.limit)
        assert horizon - timedelta(minutes=policy.granularity_min) < refusal.limit <= horizon
    else:
        assert refusal.limit == limits[refusal.reason]
    assert refusal.detail


@given(policies(), fives, fives, st.integers(-288, 288))
def test_what_the_loosest_rules_refuse_every_spot_refuses(
    policy: BookingPolicy, a: int, b: int, now_n: int
) -> None:
    start, end, now = f(a), f(b), f(now_n)
    if BookingPolicy.loosest(ZoneInfo("UTC")).check_interval(start, end, now) is not None:
        assert policy.check_interval(start, end, now) is not None
