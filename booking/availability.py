"""When a spot can be booked: its open windows minus blackouts and bookings, within its rules.

    free = (weekly rules | one-off windows) - blackouts - (active bookings widened by the buffer),
           clipped to [now + lead time, now + horizon] and to the asked range,
           with every boundary moved inward onto the granularity and pieces shorter than the
           minimum duration dropped,

so every free interval is a place where some booking could really start and end.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from booking.intervals import Interval, IntervalSet, format_instant, require_aware
from booking.weekly import WeeklyRule, expand

GRANULARITIES = (5, 10, 15, 20, 30, 60)
# The loosest rules a spot may have. Nothing longer or further ahead is ever bookable, so nothing
# longer or further ahead is ever priced or expanded.
LONGEST_DURATION_MIN = 43_200  # 30 days
LONGEST_HORIZON_DAYS = 365


class ReasonCode(StrEnum):
    """Why an interval cannot be booked; the values are the API's error codes."""

    invalid_interval = "invalid_interval"
    outside_availability = "outside_availability"
    slot_unavailable = "slot_unavailable"


class IntervalReason(StrEnum):
    """Which rule an `invalid_interval` breaks; the values are the API's `reason`."""

    end_before_start = "end_before_start"
    not_on_granularity = "not_on_granularity"
    too_short = "too_short"
    too_long = "too_long"
    in_the_past = "in_the_past"
    inside_lead_time = "inside_lead_time"
    beyond_horizon = "beyond_horizon"


_TEXT = {
    ReasonCode.outside_availability: "the spot is not offered for the whole interval",
    ReasonCode.slot_unavailable: "the spot is taken for part of the interval",
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an interval cannot be booked: the API's code and, for `invalid_interval`, the rule
    broken and its `limit`: minutes for granularity, durations and lead time; an instant for the
    horizon (the latest allowed end), the past (now) and end_before_start (the earliest allowed
    end is after it)."""

    code: ReasonCode
    reason: IntervalReason | None = None
    limit: int | datetime | None = None

    @property
    def detail(self) -> str:
        return self.describe()

    def describe(self, of: str = "this spot") -> str:
        """The refusal in words, for people (apps act on `code`, `reason` and `limit`); `of` names
        whose rules they are."""
        limit = self.limit
        match self.reason:
            case None:
                return _TEXT[self.code]
            case IntervalReason.end_before_start:
                return f"the end must be after {_instant(limit)}"
            case IntervalReason.not_on_granularity:
                assert isinstance(limit, int)
                marks = [f":{m:02d}" for m in range(0, 60, limit)]
                listed = marks[0] if len(marks) == 1 else f"{', '.join(marks[:-1])} or {marks[-1]}"
                return f"start and end must lie on {of}'s {limit}-minute grid: start at {listed} (local time)"
            case IntervalReason.too_short:
                return f"a booking of {of} lasts at least {_duration(limit)}"
            case IntervalReason.too_long:
                return f"a booking of {of} lasts at most {_duration(limit)}"
            case IntervalReason.in_the_past:
                return f"the interval starts in the past (now is {_instant(limit)})"
            case IntervalReason.inside_lead_time:
                return f"a booking of {of} must start at least {_duration(limit)} ahead"
            case IntervalReason.beyond_horizon:
                return f"a booking of {of} must end by {_instant(limit)}"


def _duration(minutes: int | datetime | None) -> str:
    assert isinstance(minutes, int)
    for unit, name in ((1440, "day"), (60, "hour"), (1, "minute")):
        if minutes % unit == 0:
            count = minutes // unit
            return f"{count} {name}{'' if count == 1 else 's'}"
    raise AssertionError("unreachable: every whole number of minutes is a multiple of 1")


def _instant(value: int | datetime | None) -> str:
    assert isinstance(value, datetime)
    return format_instant(value)


def _invalid(reason: IntervalReason, limit: int | datetime) -> Refusal:
    return Refusal(ReasonCode.invalid_interval, reason, limit)


# A policy's fields besides its time zone, named as in a spot's `rules` and its table's columns.
RULE_FIELDS = (
    "granularity_min",
    "min_duration_min",
    "max_duration_min",
    "lead_time_min",
    "horizon_days",
    "buffer_min",
)


@dataclass(frozen=True, slots=True)
class BookingPolicy:
    """A spot's booking rules (its `rules` in docs/api.md), all in minutes except the horizon."""

    timezone: ZoneInfo
    granularity_min: int = 15
    min_duration_min: int = 30
    max_duration_min: int = 43_200
    lead_time_min: int = 0
    horizon_days: int = 90
    buffer_min: int = 0

    @classmethod
    def loosest(cls, timezone: ZoneInfo) -> BookingPolicy:
        """Rules no spot's are looser than: an interval this refuses, every spot refuses."""
        return cls(
            timezone,
            granularity_min=min(GRANULARITIES),
            min_duration_min=min(GRANULARITIES),
            max_duration_min=LONGEST_DURATION_MIN,
            lead_time_min=0,
            horizon_days=LONGEST_HORIZON_DAYS,
        )

    def __post_init__(self) -> None:
        if self.granularity_min not in GRANULARITIES:
            raise ValueError(f"granularity_min must be one of {GRANULARITIES}")
        if self.min_duration_min < self.granularity_min or self.min_duration_min % self.granularity_min:
            raise ValueError("min_duration_min must be a positive multiple of granularity_min")
        if self.max_duration_min < self.min_duration_min or self.max_duration_min % self.granularity_min:
            raise ValueError(
                "max_duration_min must be a multiple of granularity_min, at least min_duration_min"
            )
        if self.lead_time_min < 0 or self.buffer_min < 0 or self.horizon_days < 1:
            raise ValueError("lead time and buffer must not be negative, the horizon at least a day")
        if self.max_duration_min > LONGEST_DURATION_MIN or self.horizon_days > LONGEST_HORIZON_DAYS:
            raise ValueError(
                f"max_duration_min must be at most {LONGEST_DURATION_MIN}, "
                f"horizon_days at most {LONGEST_HORIZON_DAYS}"
            )

    @classmethod
    def of(cls, rules: object, timezone: ZoneInfo) -> BookingPolicy:
        """From any object with attributes named like the fields (a spot row, a request body)."""
        return cls(timezone, **{name: int(getattr(rules, name)) for name in RULE_FIELDS})

    @property
    def buffer(self) -> timedelta:
        return timedelta(minutes=self.buffer_min)

    def bookable_window(self, now: datetime) -> Interval:
        """Where bookings may lie at all, seen from `now`."""
        require_aware(now, "now")
        return Interval(now + timedelta(minutes=self.lead_time_min), now + timedelta(days=self.horizon_days))

    def check_interval(self, start: datetime, end: datetime, now: datetime) -> Refusal | None:
        """None when `[start, end)` keeps these rules seen from `now`, else the first rule it
        breaks. Costs the same for any interval, so callers check it before anything whose cost
        grows with the interval's length (the calendar, the price)."""
        start, end, now = (require_aware(t, n) for t, n in ((start, "start"), (end, "end"), (now, "now")))
        if end <= start:
            return _invalid(IntervalReason.end_before_start, start)
        if start < now:
            return _invalid(IntervalReason.in_the_past, now)
        if not (self.is_aligned(start) and self.is_aligned(end)):
            return _invalid(IntervalReason.not_on_granularity, self.granularity_min)
        minutes = (end - start) / timedelta(minutes=1)
        if minutes < self.min_duration_min:
            return _invalid(IntervalReason.too_short, self.min_duration_min)
        if minutes > self.max_duration_min:
            return _invalid(IntervalReason.too_long, self.max_duration_min)
        window = self.bookable_window(now)
        if start < window.start:
            return _invalid(IntervalReason.inside_lead_time, self.lead_time_min)
        if end > window.end:
            # The latest end that is allowed and on the grid, so an app can offer it as is.
            return _invalid(IntervalReason.beyond_horizon, self.floor(window.end))
        return None

    def check_extension(self, booking: Interval, new_end: datetime, now: datetime) -> Refusal | None:
        """The rules for moving `booking`'s end to `new_end`: later than now, on the grid, within
        the longest duration and the horizon. Lead time does not apply: the booking exists."""
        require_aware(new_end, "new_end")
        if new_end <= booking.end:
            return _invalid(IntervalReason.end_before_start, booking.end)
        if not self.is_aligned(new_end):
            return _invalid(IntervalReason.not_on_granularity, self.granularity_min)
        if (new_end - booking.start) / timedelta(minutes=1) > self.max_duration_min:
            return _invalid(IntervalReason.too_long, self.max_duration_min)
        horizon = self.bookable_window(now).end
        if new_end > horizon:
            return _invalid(IntervalReason.beyond_horizon, self.floor(horizon))
        return None

    def is_aligned(self, instant: datetime) -> bool:
        local = instant.astimezone(self.timezone)
        return local.second == 0 and local.microsecond == 0 and local.minute % self.granularity_min == 0

    def ceil(self, instant: datetime) -> datetime:
        """The first aligned instant at or after `instant`."""
        instant = instant.astimezone(UTC)
        local = instant.astimezone(self.timezone)
        past = timedelta(
            minutes=local.minute % self.granularity_min, seconds=local.second, microseconds=local.microsecond
        )
        if not past:
            return instant
        return instant - past + timedelta(minutes=self.granularity_min)

    def floor(self, instant: datetime) -> datetime:
        """The last aligned instant at or before `instant`."""
        instant = instant.astimezone(UTC)
        local = instant.astimezone(self.timezone)
        return instant - timedelta(
            minutes=local.minute % self.granularity_min, seconds=local.second, microseconds=local.microsecond
        )


@dataclass(frozen=True)
class Calendar:
    """Everything that decides a spot's availability, as plain values."""

    policy: BookingPolicy
    rules: tuple[WeeklyRule, ...] = ()
    windows: tuple[Interval, ...] = ()
    blackouts: tuple[Interval, ...] = ()
    bookings: tuple[Interval, ...] = ()  # active bookings (held, requested, confirmed)

    def open_times(self, bounds: Interval) -> IntervalSet:
        """Published windows minus blackouts: when the owner offers the spot at all."""
        published = expand(self.rules, self.policy.timezone, bounds) | IntervalSet(self.windows).clip(bounds)
        return published - IntervalSet(self.blackouts)

    def taken(self) -> IntervalSet:
        buffer = self.policy.buffer
        return IntervalSet(b.widened(buffer) if buffer else b for b in self.bookings)

    def free(self, bounds: Interval, now: datetime) -> IntervalSet:
        """The maximal bookable intervals within `bounds` (see the module's docstring)."""
        reach = bounds.intersection(self.policy.bookable_window(now))
        if reach is None:
            return IntervalSet()
        raw = self.open_times(reach) - self.taken()
        return IntervalSet(_snap(raw, self.policy))

    def check(self, wanted: Interval, now: datetime) -> Refusal | None:
        """None when `wanted` can be booked now, else the first reason it cannot."""
        invalid = self.policy.check_interval(wanted.start, wanted.end, now)
        return invalid if invalid is not None else self._check_free(wanted)

    def _check_free(self, wanted: Interval) -> Refusal | None:
        if not self.open_times(wanted).contains(wanted):
            return Refusal(ReasonCode.outside_availability)
        if self.taken().overlaps(wanted):
            return Refusal(ReasonCode.slot_unavailable)
        return None


def check_extension(
    calendar: Calendar, booking: Interval, new_end: datetime, now: datetime
) -> Refusal | None:
    """Whether `booking` can be lengthened to end at `new_end`; `calendar.bookings` must not
    include the booking itself."""
    invalid = calendar.policy.check_extension(booking, new_end, now)
    return invalid if invalid is not None else calendar._check_free(Interval(booking.end, new_end))


def _snap(intervals: Iterable[Interval], policy: BookingPolicy) -> Iterable[Interval]:
    shortest = timedelta(minutes=policy.min_duration_min)
    for interval in intervals:
        start, end = policy.ceil(interval.start), policy.floor(interval.end)
        if end - start >= shortest:
            yield Interval(start, end)
