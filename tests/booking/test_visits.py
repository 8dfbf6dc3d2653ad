"""The rules at the spot (booking/visits.py): the overstay fee and the no-show charge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.availability import GRANULARITIES
from booking.pricing import CancellationPolicy, refund
from booking.states import ACTIVE, Action, Actor, NotAllowed, Status, TransitionError, next_status
from booking.visits import (
    OVERSTAY_CAP,
    check_in_opens,
    default_overstay_hourly_cents,
    most_overstay_fee,
    no_show_charge,
    no_show_due,
    overstay_fee,
    overstay_hourly_cents,
)

END = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

late = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=30))
graces = st.integers(min_value=0, max_value=120)
granularities = st.sampled_from(GRANULARITIES)
rates = st.integers(min_value=1, max_value=150_000)
prices = st.integers(min_value=0, max_value=2_400_000)
policies = st.sampled_from(list(CancellationPolicy))


def fee(minutes_late: float, *, grace: int = 10, granularity: int = 15, rate: int = 375) -> int:
    return overstay_fee(
        end=END,
        left_at=END + timedelta(minutes=minutes_late),
        grace_min=grace,
        granularity_min=granularity,
        hourly_cents=rate,
    )


def test_leaving_within_the_grace_costs_nothing() -> None:
    assert fee(-30) == 0
    assert fee(0) == 0
    assert fee(10) == 0  # exactly at the end of the grace


def test_past_the_grace_the_overstay_counts_from_the_end() -> None:
    # 25 minutes late, 10-minute grace, 15-minute units: two started units, 30 min at 3.75 EUR/h.
    assert fee(25) == 188
    assert fee(10 + 1 / 60) == 94  # one second past the grace: the first unit, 93.75 rounded up
    assert fee(30) == 188
    assert fee(31) == 282
    assert fee(25, grace=0, granularity=60, rate=300) == 300


def test_the_fee_stops_at_the_cap() -> None:
    capped = fee(OVERSTAY_CAP.total_seconds() / 60)
    assert capped == 375 * 24
    assert fee(3 * 24 * 60) == capped
    assert most_overstay_fee(grace_min=10, granularity_min=15, hourly_cents=375) == capped


def test_the_default_overstay_rate_is_one_and_a_half_times_the_price() -> None:
    assert default_overstay_hourly_cents(250) == 375
    assert default_overstay_hourly_cents(251) == 377  # 376.5 rounded up
    assert overstay_hourly_cents(250, None) == 375
    assert overstay_hourly_cents(250, 400) == 400


def test_bad_rules_are_refused() -> None:
    with pytest.raises(ValueError, match="must"):
        fee(20, granularity=0)
    with pytest.raises(ValueError, match="must"):
        fee(20, grace=-1)


@given(late, late, graces, granularities, rates)
def test_the_fee_never_falls_as_the_check_out_gets_later(
    a: timedelta, b: timedelta, grace: int, granularity: int, rate: int
) -> None:
    early, later = sorted((a, b))
    kwargs = {"end": END, "grace_min": grace, "granularity_min": granularity, "hourly_cents": rate}
    assert overstay_fee(left_at=END + early, **kwargs) <= overstay_fee(left_at=END + later, **kwargs)


@given(late, graces, granularities, rates)
def test_the_fee_is_zero_within_the_grace_and_bounded_by_the_cap(
    length: timedelta, grace: int, granularity: int, rate: int
) -> None:
    fee_ = overstay_fee(
        end=END, left_at=END + length, grace_min=grace, granularity_min=granularity, hourly_cents=rate
    )
    if length <= timedelta(minutes=grace):
        assert fee_ == 0
    else:
        assert fee_ > 0
        # At least the overstay itself (at most the cap) at the rate, at most one unit more.
        charged = min(length, OVERSTAY_CAP)
        assert fee_ * 3600 >= rate * charged.total_seconds()
        assert fee_ <= rate * (charged + timedelta(minutes=granularity)).total_seconds() / 3600 + 1
    assert fee_ <= most_overstay_fee(grace_min=grace, granularity_min=granularity, hourly_cents=rate)


@given(policies, prices)
def test_a_no_show_pays_the_price_less_the_refund_at_the_start(policy: CancellationPolicy, paid: int) -> None:
    charge = no_show_charge(policy, paid, END)
    assert 0 <= charge <= paid
    assert charge == paid - refund(policy, paid, END, END)


def test_a_no_show_is_due_after_the_rule_or_at_the_end() -> None:
    start = END - timedelta(hours=2)
    assert no_show_due(start, END, 30) == start + timedelta(minutes=30)
    assert no_show_due(END - timedelta(minutes=20), END, 30) == END


def test_check_in_opens_fifteen_minutes_before_the_start() -> None:
    assert check_in_opens(END) == END - timedelta(minutes=15)


def test_the_new_transitions() -> None:
    assert next_status(Status.confirmed, Action.check_in, Actor.driver) is Status.confirmed
    assert next_status(Status.confirmed, Action.overstay, Actor.system) is Status.overstayed
    assert next_status(Status.overstayed, Action.check_out, Actor.driver) is Status.completed
    assert next_status(Status.overstayed, Action.complete, Actor.system) is Status.completed
    assert next_status(Status.confirmed, Action.miss, Actor.system) is Status.no_show
    assert Status.overstayed in ACTIVE
    assert Status.no_show not in ACTIVE
    with pytest.raises(NotAllowed):
        next_status(Status.confirmed, Action.check_in, Actor.owner)
    with pytest.raises(TransitionError):
        next_status(Status.held, Action.check_in, Actor.driver)
    with pytest.raises(TransitionError):
        next_status(Status.overstayed, Action.cancel, Actor.driver)
