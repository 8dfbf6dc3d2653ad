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

from booking.intervals import Interval, IntervalSet, require_aware
from booking.weekly import WeeklyRule, expand

GRANULARITIES = (5, 10, 15, 20, 30, 60)


class ReasonCode(StrEnum):
    """Why an interval cannot be booked; the values are the API's error codes."""

    invalid_interval = "invalid_interval"
    outside_availability = "outside_availability"
    slot_unavailable = "slot_unavailable"


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

    @classmethod
    def of(cls, rules: object, timezone: ZoneInfo) -> BookingPolicy:
        """From any object with attributes named like the fields (a spot row, a request body)."""
        names = (
            "granularity_min",
            "min_duration_min",
            "max_duration_min",
            "lead_time_min",
            "horizon_days",
            "buffer_min",
        )
        return cls(timezone, **{name: int(getattr(rules, name)) for name in names})

    @property
    def buffer(self) -> timedelta:
        return timedelta(minutes=self.buffer_min)

    def bookable_window(self, now: datetime) -> Interval:
        """Where bookings may lie at all, seen from `now`."""
        require_aware(now, "now")
        return Interval(now + timedelta(minutes=self.lead_time_min), now + timedelta(days=self.horizon_days))

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

    def check(self, wanted: Interval, now: datetime) -> ReasonCode | None:
        """None when `wanted` can be booked now, else the first reason it cannot."""
        policy = self.policy
        minutes = wanted.length / timedelta(minutes=1)
        if (
            not policy.is_aligned(wanted.start)
            or not policy.is_aligned(wanted.end)
            or minutes < policy.min_duration_min
            or minutes > policy.max_duration_min
            or not policy.bookable_window(now).contains(wanted)
        ):
            return ReasonCode.invalid_interval
        if not self.open_times(wanted).contains(wanted):
            return ReasonCode.outside_availability
        if self.taken().overlaps(wanted):
            return ReasonCode.slot_unavailable
        return None


def check_extension(
    calendar: Calendar, booking: Interval, new_end: datetime, now: datetime
) -> ReasonCode | None:
    """Whether `booking` can be lengthened to end at `new_end`; `calendar.bookings` must not
    include the booking itself. Lead time does not apply: the booking exists already."""
    policy = calendar.policy
    minutes = (new_end - booking.start) / timedelta(minutes=1)
    if (
        new_end <= booking.end
        or not policy.is_aligned(new_end)
        or minutes > policy.max_duration_min
        or new_end > policy.bookable_window(now).end
    ):
        return ReasonCode.invalid_interval
    extra = Interval(booking.end, new_end)
    if not calendar.open_times(extra).contains(extra):
        return ReasonCode.outside_availability
    if calendar.taken().overlaps(extra):
        return ReasonCode.slot_unavailable
    return None


def _snap(intervals: Iterable[Interval], policy: BookingPolicy) -> Iterable[Interval]:
    shortest = timedelta(minutes=policy.min_duration_min)
    for interval in intervals:
        start, end = policy.ceil(interval.start), policy.floor(interval.end)
        if end - start >= shortest:
            yield Interval(start, end)
