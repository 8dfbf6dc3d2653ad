"""Weekly rules in local time, above all on the days the clocks change (Europe/Berlin 2026:
forward on 29 March at 02:00, back on 25 October at 03:00)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.intervals import Interval, IntervalSet
from booking.weekly import WEEKDAYS, WeeklyRule, expand, format_clock, local_instant, parse_clock

BERLIN = ZoneInfo("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def iv(a: datetime, b: datetime) -> Interval:
    return Interval(a, b)


def week(start: date) -> Interval:
    """Monday 00:00 to the next Monday 00:00, Berlin time."""
    return iv(local_instant(start, 0, BERLIN), local_instant(start + timedelta(days=7), 0, BERLIN))


OFFICE = WeeklyRule.parse(["mon", "tue", "wed", "thu", "fri"], "08:00", "18:00")


def test_expanding_is_bounded() -> None:
    start = utc(2026, 1, 1)
    assert (
        len(expand([OFFICE], BERLIN, iv(start, start + timedelta(days=732)))) == 522
    )  # weekdays in 2026 and 2027
    with pytest.raises(ValueError, match="more than 732 days"):
        expand([OFFICE], BERLIN, iv(start, start + timedelta(days=732, minutes=1)))


def test_office_hours_in_the_week_clocks_go_forward() -> None:
    got = expand([OFFICE], BERLIN, week(date(2026, 3, 23)))
    # Winter time (UTC+1) all week; the change happens on Sunday, when the rule is closed.
    assert list(got) == [iv(utc(2026, 3, d, 7), utc(2026, 3, d, 17)) for d in range(23, 28)]
    after = expand([OFFICE], BERLIN, week(date(2026, 3, 30)))
    # Summer time (UTC+2): the same wall-clock hours are an hour earlier in UTC.
    assert next(iter(after)) == iv(utc(2026, 3, 30, 6), utc(2026, 3, 30, 16))
    assert all(w.length == timedelta(hours=10) for w in after)


def test_office_hours_in_the_week_clocks_go_back() -> None:
    got = expand([OFFICE], BERLIN, week(date(2026, 10, 19)))
    assert list(got) == [iv(utc(2026, 10, d, 6), utc(2026, 10, d, 16)) for d in range(19, 24)]
    after = expand([OFFICE], BERLIN, week(date(2026, 10, 26)))
    assert next(iter(after)) == iv(utc(2026, 10, 26, 7), utc(2026, 10, 26, 17))


def test_the_missing_hour_in_march() -> None:
    day = date(2026, 3, 29)  # Sunday
    assert local_instant(day, 2 * 60, BERLIN) == utc(2026, 3, 29, 1)  # 02:00 does not exist: 03:00 CEST
    assert local_instant(day, 2 * 60 + 30, BERLIN) == utc(2026, 3, 29, 1)
    assert local_instant(day, 3 * 60, BERLIN) == utc(2026, 3, 29, 1)
    bounds = iv(utc(2026, 3, 28), utc(2026, 3, 30))
    # A window entirely inside the gap is empty that day, and only that day.
    assert expand([WeeklyRule.parse(["sun"], "02:00", "02:30")], BERLIN, bounds) == IntervalSet()
    assert (
        len(
            expand(
                [WeeklyRule.parse(["sun"], "02:00", "02:30")], BERLIN, iv(utc(2026, 4, 4), utc(2026, 4, 6))
            )
        )
        == 1
    )
    # A window ending in the gap ends where the gap ends: one real hour.
    assert list(expand([WeeklyRule.parse(["sun"], "01:00", "02:30")], BERLIN, bounds)) == [
        iv(utc(2026, 3, 29, 0), utc(2026, 3, 29, 1))
    ]
    # A window across the change is an hour shorter in real time.
    assert list(expand([WeeklyRule.parse(["sun"], "00:00", "06:00")], BERLIN, bounds)) == [
        iv(utc(2026, 3, 28, 23), utc(2026, 3, 29, 4))
    ]
    # An overnight window from Saturday into the change, too.
    assert list(expand([WeeklyRule.parse(["sat"], "22:00", "06:00")], BERLIN, bounds)) == [
        iv(utc(2026, 3, 28, 21), utc(2026, 3, 29, 4))
    ]


def test_the_doubled_hour_in_october() -> None:
    day = date(2026, 10, 25)  # Sunday
    # 02:30 happens twice; the first time (summer time) counts.
    assert local_instant(day, 2 * 60 + 30, BERLIN) == utc(2026, 10, 25, 0, 30)
    assert local_instant(day, 3 * 60, BERLIN) == utc(2026, 10, 25, 2)
    bounds = iv(utc(2026, 10, 24), utc(2026, 10, 26))
    # Across the change a window is an hour longer in real time.
    assert list(expand([WeeklyRule.parse(["sun"], "00:00", "06:00")], BERLIN, bounds)) == [
        iv(utc(2026, 10, 24, 22), utc(2026, 10, 25, 5))
    ]
    assert list(expand([WeeklyRule.parse(["sat"], "22:00", "02:30")], BERLIN, bounds)) == [
        iv(utc(2026, 10, 24, 20), utc(2026, 10, 25, 0, 30))
    ]
    assert list(expand([WeeklyRule.parse(["sun"], "02:00", "03:00")], BERLIN, bounds)) == [
        iv(utc(2026, 10, 25, 0), utc(2026, 10, 25, 2))
    ]


def test_end_time_24_00_is_the_next_midnight() -> None:
    rule = WeeklyRule.parse(["sat"], "18:00", "24:00")
    got = expand([rule], BERLIN, iv(utc(2026, 11, 20), utc(2026, 11, 24)))
    assert list(got) == [iv(utc(2026, 11, 21, 17), utc(2026, 11, 21, 23))]
    with pytest.raises(ValueError, match="not a time of day"):
        WeeklyRule.parse(["sat"], "24:00", "06:00")


def test_a_rule_over_midnight_belongs_to_the_day_it_starts() -> None:
    nights = WeeklyRule.parse(["fri"], "20:00", "07:00")
    got = expand([nights], BERLIN, iv(utc(2026, 11, 16), utc(2026, 11, 23)))
    assert list(got) == [iv(utc(2026, 11, 20, 19), utc(2026, 11, 21, 6))]
    # The window reaches into bounds that begin after it started.
    clipped = expand([nights], BERLIN, iv(utc(2026, 11, 21, 0), utc(2026, 11, 22)))
    assert list(clipped) == [iv(utc(2026, 11, 21, 0), utc(2026, 11, 21, 6))]


def test_adjacent_days_merge_into_one_interval() -> None:
    rules = [WeeklyRule.parse(["mon"], "00:00", "24:00"), WeeklyRule.parse(["tue"], "00:00", "12:00")]
    got = expand(rules, BERLIN, iv(utc(2026, 11, 22), utc(2026, 11, 26)))
    assert list(got) == [iv(utc(2026, 11, 22, 23), utc(2026, 11, 24, 11))]


def test_validity_dates_are_inclusive_local_dates() -> None:
    rule = WeeklyRule.parse(list(WEEKDAYS), "08:00", "09:00", date(2026, 11, 24), date(2026, 11, 26))
    got = expand([rule], BERLIN, iv(utc(2026, 11, 20), utc(2026, 12, 1)))
    assert [w.start.day for w in got] == [24, 25, 26]


def test_parsing_refuses_bad_rules() -> None:
    for args, message in (
        ((["mo"], "08:00", "18:00"), "unknown weekday"),
        (([], "08:00", "18:00"), "weekdays"),
        ((["mon"], "8:00", "18:00"), "HH:MM"),
        ((["mon"], "08:60", "18:00"), "not a time"),
        ((["mon"], "08:00", "24:01"), "not a time"),
        ((["mon"], "08:00", "08:00"), "same time"),
        ((["mon"], "08:00", "18:00", date(2026, 2, 1), date(2026, 1, 1)), "valid_until"),
    ):
        with pytest.raises(ValueError, match=message):
            WeeklyRule.parse(*args)  # type: ignore[arg-type]


def test_clock_round_trip() -> None:
    assert parse_clock("24:00", allow_24=True) == 1440
    assert format_clock(parse_clock("07:45", allow_24=False)) == "07:45"


ZONES = [
    ZoneInfo(name)
    for name in ("Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC")
]


@st.composite
def rules(draw: st.DrawFn) -> WeeklyRule:
    days = draw(st.sets(st.integers(0, 6), min_size=1))
    start = draw(st.integers(0, 95)) * 15
    end = draw(st.integers(1, 96).filter(lambda e: e * 15 != start)) * 15
    return WeeklyRule(frozenset(days), start, end)


@given(
    st.lists(rules(), min_size=1, max_size=3),
    st.sampled_from(ZONES),
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
    st.integers(1, 24 * 20),
    st.integers(1, 24 * 20),
)
def test_expansion_is_additive_over_split_ranges(
    rs: list[WeeklyRule], tz: ZoneInfo, start: datetime, hours_a: int, hours_b: int
) -> None:
    a = start.replace(tzinfo=UTC)
    b, c = a + timedelta(hours=hours_a), a + timedelta(hours=hours_a + hours_b)
    whole = expand(rs, tz, iv(a, c))
    assert whole == expand(rs, tz, iv(a, b)) | expand(rs, tz, iv(b, c))
    assert all(a <= w.start and w.end <= c for w in whole)


@given(rules(), st.sampled_from(ZONES), st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31)))
def test_windows_start_at_the_rules_wall_time_when_it_exists(
    rule: WeeklyRule, tz: ZoneInfo, day: date
) -> None:
    window = rule.window_on(day, tz)
    if window is None:
        return
    local_start = window.start.astimezone(tz)
    wall = datetime.combine(day, datetime.min.time()) + timedelta(minutes=rule.start_minute)
    if local_start.replace(tzinfo=None) == wall:
        nominal = (rule.end_minute - rule.start_minute) % 1440 or 1440
        # Only a DST change (at most 1 hour here, 30 minutes on Lord Howe) makes real time differ.
        assert abs(window.length - timedelta(minutes=nominal)) <= timedelta(hours=1)
    else:
        # The start fell in a gap: the window starts where the gap ends, at a whole offset change.
        assert local_start.replace(tzinfo=None) > wall
