"""The interval algebra against a brute-force model: a set of whole minutes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.intervals import Interval, IntervalSet, NaiveDatetimeError

BASE = datetime(2026, 3, 1, tzinfo=UTC)
SPAN = 240


def at(minute: int) -> datetime:
    return BASE + timedelta(minutes=minute)


@st.composite
def intervals(draw: st.DrawFn) -> Interval:
    start = draw(st.integers(0, SPAN - 1))
    end = draw(st.integers(start + 1, SPAN))
    return Interval(at(start), at(end))


interval_lists = st.lists(intervals(), max_size=12)
sets = interval_lists.map(IntervalSet)


def minutes(items: IntervalSet | Interval) -> set[int]:
    pieces = [items] if isinstance(items, Interval) else list(items)
    out: set[int] = set()
    for piece in pieces:
        out |= set(
            range(
                int((piece.start - BASE) / timedelta(minutes=1)),
                int((piece.end - BASE) / timedelta(minutes=1)),
            )
        )
    return out


def assert_normal(s: IntervalSet) -> None:
    items = list(s)
    for a, b in itertools.pairwise(items):
        assert a.end < b.start, f"not sorted, disjoint and apart: {s!r}"


@given(interval_lists)
def test_building_normalises_and_keeps_every_minute(items: list[Interval]) -> None:
    s = IntervalSet(items)
    assert_normal(s)
    expected: set[int] = set()
    for item in items:
        expected |= minutes(item)
    assert minutes(s) == expected


@given(interval_lists)
def test_normal_form_is_unique(items: list[Interval]) -> None:
    assert IntervalSet(items) == IntervalSet(reversed(items)) == IntervalSet(list(IntervalSet(items)))


@given(sets, sets)
def test_union_intersection_difference_agree_with_the_model(a: IntervalSet, b: IntervalSet) -> None:
    for result, expected in (
        (a | b, minutes(a) | minutes(b)),
        (a & b, minutes(a) & minutes(b)),
        (a - b, minutes(a) - minutes(b)),
    ):
        assert_normal(result)
        assert minutes(result) == expected


@given(sets, sets, sets)
def test_set_laws(a: IntervalSet, b: IntervalSet, c: IntervalSet) -> None:
    assert a | b == b | a
    assert a & b == b & a
    assert (a | b) | c == a | (b | c)
    assert a & (b | c) == (a & b) | (a & c)
    assert (a - b) | (a & b) == a
    assert not ((a - b) & b)
    assert a - (b | c) == (a - b) - c


@given(sets, intervals())
def test_contains_and_overlaps_agree_with_the_model(s: IntervalSet, probe: Interval) -> None:
    assert s.contains(probe) == (minutes(probe) <= minutes(s))
    assert s.overlaps(probe) == bool(minutes(probe) & minutes(s))
    assert s.contains(probe.start) == ((probe.start - BASE) // timedelta(minutes=1) in minutes(s))


@given(sets, intervals())
def test_gaps_are_the_complement_within_bounds(s: IntervalSet, within: Interval) -> None:
    gaps = s.gaps(within)
    assert_normal(gaps)
    assert minutes(gaps) == minutes(within) - minutes(s)
    assert s.clip(within) | gaps == IntervalSet([within])


def test_half_open_intervals_that_touch_do_not_overlap_but_merge() -> None:
    morning, afternoon = Interval(at(0), at(60)), Interval(at(60), at(120))
    assert not morning.overlaps(afternoon)
    assert morning.intersection(afternoon) is None
    assert list(IntervalSet([morning, afternoon])) == [Interval(at(0), at(120))]
    assert morning.contains(at(0))
    assert not morning.contains(at(60))


def test_interval_basics() -> None:
    i = Interval(at(10), at(70))
    assert i.length == timedelta(hours=1)
    assert i.contains(Interval(at(10), at(70)))
    assert not i.contains(Interval(at(9), at(70)))
    assert i.intersection(Interval(at(60), at(100))) == Interval(at(60), at(70))
    assert i.widened(timedelta(minutes=5)) == Interval(at(5), at(75))
    assert repr(i) == "[2026-03-01T00:10:00Z, 2026-03-01T01:10:00Z)"


def test_intervals_in_other_offsets_compare_by_instant() -> None:
    berlin_winter = timezone(timedelta(hours=1))
    a = Interval(
        datetime(2026, 3, 1, 1, 0, tzinfo=berlin_winter), datetime(2026, 3, 1, 2, 0, tzinfo=berlin_winter)
    )
    assert IntervalSet([a]) == IntervalSet([Interval(at(0), at(60))])


def test_invalid_intervals_are_refused() -> None:
    with pytest.raises(ValueError, match="end after it starts"):
        Interval(at(10), at(10))
    with pytest.raises(ValueError, match="end after it starts"):
        Interval(at(10), at(5))
    with pytest.raises(NaiveDatetimeError):
        Interval(datetime(2026, 3, 1), at(5))
    with pytest.raises(NaiveDatetimeError):
        IntervalSet([Interval(at(0), at(5))]).contains(datetime(2026, 3, 1))


def test_repr_and_total() -> None:
    s = IntervalSet([Interval(at(0), at(30)), Interval(at(60), at(90))])
    assert (
        repr(s)
        == "IntervalSet([2026-03-01T00:00:00Z, 2026-03-01T00:30:00Z), [2026-03-01T01:00:00Z, 2026-03-01T01:30:00Z))"
    )
    assert s.total == timedelta(hours=1)
    assert len(s) == 2
    assert not IntervalSet()
    assert IntervalSet().gaps() == IntervalSet()
    assert s.gaps() == IntervalSet([Interval(at(30), at(60))])
