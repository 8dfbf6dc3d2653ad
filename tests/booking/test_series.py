"""A series' pattern expanded in the spot's local time, above all across the two DST changes of
Europe/Berlin in 2026 (forward on 29 March at 02:00, back on 25 October at 03:00)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking import BookingPolicy, Calendar, Interval, ReasonCode, WeeklyRule
from booking.series import MAX_DAYS, MAX_OCCURRENCES, Pattern, SeriesProblem, check_all, expand, series_status
from booking.states import Status
from booking.weekly import WEEKDAYS

BERLIN = ZoneInfo("Europe/Berlin")
SPRING = date(2026, 3, 29)  # a Sunday: 02:00 CET jumps to 03:00 CEST
AUTUMN = date(2026, 10, 25)  # a Sunday: 03:00 CEST falls back to 02:00 CET
WORKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def wall(day: date, minute: int) -> datetime:
    """Local wall time `minute` after midnight of `day` (1440 is the next midnight), naive."""
    return datetime.combine(day, time()) + timedelta(minutes=minute)


def exists(moment: datetime, tz: ZoneInfo) -> bool:
    """Whether naive local `moment` names an instant at all (it is not in a DST gap)."""
    return moment.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == moment


def local(instant: datetime, tz: ZoneInfo = BERLIN) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def test_office_hours_stay_local_in_the_weeks_the_clocks_change() -> None:
    for change in (SPRING, AUTUMN):
        monday = change - timedelta(days=6 + 7)  # two weeks before and two after the change
        pattern = Pattern.parse(WORKDAYS, "08:00", "18:00", monday, monday + timedelta(days=27))
        occurrences = expand(pattern, BERLIN)
        assert len(occurrences) == 20
        assert {local(o.start).time() for o in occurrences} == {time(8)}
        assert {local(o.end).time() for o in occurrences} == {time(18)}
        assert {o.length for o in occurrences} == {timedelta(hours=10)}
        # The UTC start moves by the hour the clocks moved.
        assert len({o.start.time() for o in occurrences}) == 2


def test_a_night_in_a_dst_gap_is_resolved_like_the_availability_rules() -> None:
    pattern = Pattern.parse(["sun"], "01:00", "02:30", SPRING, SPRING)
    [night] = expand(pattern, BERLIN)
    # 02:30 does not exist that night: the end is the gap's end, 03:00 CEST.
    assert night == Interval(datetime(2026, 3, 29, 0, 0, tzinfo=UTC), datetime(2026, 3, 29, 1, 0, tzinfo=UTC))
    # Wholly inside the gap: no such occurrence that night, and then the series is empty.
    swallowed = Pattern.parse(["sun"], "02:00", "02:30", SPRING, SPRING)
    assert swallowed.problems() == []
    assert expand(swallowed, BERLIN) == []


def test_a_time_that_happens_twice_is_its_first_occurrence() -> None:
    [night] = expand(Pattern.parse(["sat"], "22:00", "02:30", AUTUMN - timedelta(days=1), AUTUMN), BERLIN)
    assert night.end == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, not CET
    assert night.length == timedelta(hours=4, minutes=30)


def test_overnight_and_midnight_end_on_the_next_day() -> None:
    monday = date(2026, 11, 23)
    [night] = expand(Pattern.parse(["mon"], "22:00", "06:00", monday, monday), BERLIN)
    assert (local(night.start), local(night.end)) == (
        datetime(2026, 11, 23, 22),
        datetime(2026, 11, 24, 6),
    )
    [evening] = expand(Pattern.parse(["mon"], "18:00", "24:00", monday, monday), BERLIN)
    assert local(evening.end) == datetime(2026, 11, 24, 0)


def test_limits_are_counted_without_expanding() -> None:
    monday = date(2026, 11, 23)
    longest = Pattern.parse(list(WEEKDAYS), "08:00", "09:00", monday, monday + timedelta(days=MAX_DAYS - 1))
    assert longest.problems() == []
    assert len(expand(longest, BERLIN)) == MAX_DAYS
    too_long = Pattern.parse(list(WEEKDAYS), "08:00", "09:00", monday, monday + timedelta(days=MAX_DAYS))
    assert too_long.problems() == [SeriesProblem.series_too_long]
    # 101 daily occurrences: both limits are broken and both are named.
    many = Pattern.parse(list(WEEKDAYS), "08:00", "09:00", monday, monday + timedelta(days=MAX_OCCURRENCES))
    assert many.count() == MAX_OCCURRENCES + 1
    assert many.problems() == [SeriesProblem.series_too_long, SeriesProblem.series_too_many_occurrences]
    # A thousand years is counted, not walked.
    huge = Pattern.parse(["mon"], "08:00", "09:00", date(1000, 1, 1), date(2999, 12, 31))
    assert huge.count() == sum(1 for k in range(huge.days) if (huge.first + timedelta(days=k)).weekday() == 0)
    with pytest.raises(ValueError, match="limit"):
        expand(huge, BERLIN)
    # With a lower count limit the count guard alone refuses.
    assert longest.problems(max_occurrences=10) == [SeriesProblem.series_too_many_occurrences]
    assert Pattern.parse(["sat"], "08:00", "09:00", monday, monday + timedelta(days=4)).problems() == [
        SeriesProblem.series_empty
    ]
    assert Pattern.parse(["mon"], "08:00", "09:00", monday, monday - timedelta(days=1)).problems() == [
        SeriesProblem.until_before_from
    ]


def test_a_pattern_must_have_a_length() -> None:
    with pytest.raises(ValueError, match="same time"):
        Pattern.parse(["mon"], "08:00", "08:00", date(2026, 11, 23), date(2026, 11, 23))
    with pytest.raises(ValueError, match="unknown weekday"):
        Pattern.parse(["monday"], "08:00", "09:00", date(2026, 11, 23), date(2026, 11, 23))


# Patterns around both changes of 2026 and the ordinary weeks between them.
minutes = st.integers(0, 24 * 4 - 1).map(lambda q: q * 15)
patterns = st.builds(
    lambda days, start, end, first, span: (days, start, end, first, first + timedelta(days=span)),
    st.sets(st.integers(0, 6), min_size=1),
    minutes,
    st.integers(1, 24 * 4).map(lambda q: q * 15),
    st.sampled_from([SPRING, AUTUMN, date(2026, 7, 1)]).flatmap(
        lambda d: st.integers(-20, 5).map(lambda k: d + timedelta(days=k))
    ),
    st.integers(0, MAX_DAYS - 1),
)


@given(patterns)
def test_every_occurrence_is_inside_the_pattern_in_local_time(
    raw: tuple[frozenset[int], int, int, date, date],
) -> None:
    days, start, end, first, last = raw
    if start == end:
        return
    pattern = Pattern(frozenset(days), start, end, first, last)
    occurrences = expand(pattern, BERLIN)
    assert len(occurrences) <= min(pattern.count(), MAX_OCCURRENCES)
    # Sorted, no duplicates, never overlapping one another.
    assert all(a.end <= b.start for a, b in itertools.pairwise(occurrences))
    by_day = {}
    for occurrence in occurrences:
        day = local(occurrence.start).date()
        assert day not in by_day
        by_day[day] = occurrence
        assert pattern.first <= day <= pattern.last
        assert day.weekday() in pattern.weekdays
        begins, ends = wall(day, start), wall(day + timedelta(days=1) if end <= start else day, end)
        # A wall time that exists is kept exactly (one that happens twice, as its first
        # occurrence); one in a gap becomes the gap's end, less than an hour later.
        for instant, wanted in ((occurrence.start, begins), (occurrence.end, ends)):
            if exists(wanted, BERLIN):
                assert local(instant) == wanted
                assert instant == wanted.replace(tzinfo=BERLIN, fold=0).astimezone(UTC)
            else:
                assert wanted < local(instant) <= wanted + timedelta(hours=1)
    # Every listed date has its occurrence, unless a DST gap swallowed it whole.
    for k in range(pattern.days):
        day = first + timedelta(days=k)
        if day.weekday() in days and exists(wall(day, start), BERLIN):
            assert day in by_day


def test_check_all_counts_the_series_against_itself_with_the_buffer() -> None:
    policy = BookingPolicy(BERLIN, buffer_min=30)
    calendar = Calendar(policy, rules=(WeeklyRule.parse(list(WEEKDAYS), "00:00", "24:00"),))
    now = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    monday = date(2026, 11, 24)
    # 08:00 to 07:45 the next day, daily: each ends 15 minutes before the next starts, inside
    # the 30-minute buffer, so every second one is refused.
    occurrences = expand(
        Pattern.parse(list(WEEKDAYS), "08:00", "07:45", monday, monday + timedelta(days=3)), BERLIN
    )
    refusals = check_all(calendar, occurrences, now)
    assert [r.code if r else None for r in refusals] == [
        None,
        ReasonCode.slot_unavailable,
        None,
        ReasonCode.slot_unavailable,
    ]
    # Without a buffer all four fit end to start.
    loose = Calendar(BookingPolicy(BERLIN), rules=calendar.rules)
    assert check_all(loose, occurrences, now) == [None] * 4


def test_a_series_status_says_what_comes_next() -> None:
    held, requested, confirmed = Status.held, Status.requested, Status.confirmed
    assert series_status([Status.cancelled, held, confirmed]) == held
    assert series_status([requested, Status.declined]) == requested
    assert series_status([Status.completed, confirmed, Status.cancelled]) == confirmed
    assert series_status([Status.completed, Status.cancelled]) == Status.completed
    assert series_status([Status.expired, Status.expired]) == Status.expired
    assert series_status([Status.declined]) == Status.declined
    assert series_status([Status.declined, Status.expired]) == Status.cancelled
    assert series_status([Status.cancelled]) == Status.cancelled
    # At the spot: a car staying on comes before what is merely reserved; all no-shows read so.
    assert series_status([confirmed, Status.overstayed, Status.completed]) == Status.overstayed
    assert series_status([Status.no_show, Status.no_show]) == Status.no_show
    assert series_status([Status.no_show, Status.completed]) == Status.completed
