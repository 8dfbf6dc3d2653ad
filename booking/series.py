"""A commuter's series: one weekly pattern in a spot's local time, expanded into the intervals it
books, and the check of all of them against one calendar.

A pattern is weekdays, a local start and end time, and the local dates `first` to `last`, both
inclusive. On each such date whose weekday is listed, one occurrence runs from that date at
`start` to the same date at `end`, or to the next date when `end` is 24:00 or not after `start`
(overnight): the same conventions as the weekly availability rules (`booking.weekly`), so a
pattern copied from a spot's published hours fits them exactly. Wall-clock times are resolved as
those rules resolve them:

- a local time in a DST gap (Europe/Berlin, last Sunday of March, 02:00-02:59) is read as the end
  of the gap (03:00 CEST); an occurrence that the gap swallows whole (02:00-02:30 that night) does
  not exist and is not listed;
- a local time that happens twice (last Sunday of October, 02:00-02:59) is its first occurrence,
  in summer time.

So "08:00-18:00" is 08:00-18:00 local on every date, whatever the offset that week.

The limits keep every request's work bounded: at most `MAX_DAYS` dates and `MAX_OCCURRENCES`
occurrences, counted without expanding anything (`problems`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from booking.availability import Calendar, Refusal
from booking.intervals import Interval
from booking.states import Status
from booking.weekly import MINUTES_PER_DAY, local_instant, parse_clock, weekday_numbers

MAX_DAYS = 92
MAX_OCCURRENCES = 100


class SeriesProblem(StrEnum):
    """Why a pattern is refused as a whole; the values are the API's `errors[].type`."""

    until_before_from = "until_before_from"
    series_too_long = "series_too_long"
    series_too_many_occurrences = "series_too_many_occurrences"
    series_empty = "series_empty"


@dataclass(frozen=True, slots=True)
class Pattern:
    weekdays: frozenset[int]  # 0 = Monday
    start_minute: int  # 0..1439
    end_minute: int  # 1..1440; 1440 is 24:00; not after start_minute ends the next day
    first: date
    last: date  # inclusive

    def __post_init__(self) -> None:
        if not self.weekdays or not self.weekdays <= set(range(7)):
            raise ValueError("weekdays must be a non-empty subset of 0..6")
        if not 0 <= self.start_minute < MINUTES_PER_DAY or not 0 <= self.end_minute <= MINUTES_PER_DAY:
            raise ValueError("start must be within the day, end within the day or 24:00")
        if self.start_minute == self.end_minute:
            raise ValueError("a pattern must not start and end at the same time")

    @classmethod
    def parse(
        cls, weekdays: Sequence[str], start_time: str, end_time: str, first: date, last: date
    ) -> Pattern:
        return cls(
            weekday_numbers(weekdays),
            parse_clock(start_time, allow_24=False),
            parse_clock(end_time, allow_24=True),
            first,
            last,
        )

    @property
    def overnight(self) -> bool:
        return self.end_minute <= self.start_minute

    @property
    def days(self) -> int:
        """How many dates `first` to `last` spans, both counted."""
        return (self.last - self.first).days + 1

    def count(self) -> int:
        """How many dates of the span fall on a listed weekday: arithmetic, whatever the span."""
        if self.last < self.first:
            return 0
        weeks, rest = divmod(self.days, 7)
        tail = {(self.first.weekday() + i) % 7 for i in range(rest)}
        return weeks * len(self.weekdays) + len(tail & self.weekdays)

    def problems(
        self, *, max_days: int = MAX_DAYS, max_occurrences: int = MAX_OCCURRENCES
    ) -> list[SeriesProblem]:
        """Every limit the pattern breaks, found without expanding it; empty when it may be
        expanded. (Within `max_days` no pattern has more dates than that: the count limit is a
        second guard, and both are named when both are broken.)"""
        if self.last < self.first:
            return [SeriesProblem.until_before_from]
        found = []
        if self.days > max_days:
            found.append(SeriesProblem.series_too_long)
        count = self.count()
        if count > max_occurrences:
            found.append(SeriesProblem.series_too_many_occurrences)
        if count == 0:
            found.append(SeriesProblem.series_empty)
        return found

    def occurrence_on(self, day: date, tz: ZoneInfo) -> Interval | None:
        """The occurrence starting on local date `day`, or None (not a listed weekday, outside
        the span, or swallowed by a DST gap)."""
        if day.weekday() not in self.weekdays or not self.first <= day <= self.last:
            return None
        start = local_instant(day, self.start_minute, tz)
        end = local_instant(day + timedelta(days=1) if self.overnight else day, self.end_minute, tz)
        return Interval(start, end) if end > start else None


def expand(
    pattern: Pattern, tz: ZoneInfo, *, max_days: int = MAX_DAYS, max_occurrences: int = MAX_OCCURRENCES
) -> list[Interval]:
    """The pattern's occurrences in UTC, in time order. Raises `ValueError` for a pattern that
    breaks a limit (check `problems` first to answer which); an empty pattern expands to nothing."""
    found = pattern.problems(max_days=max_days, max_occurrences=max_occurrences)
    if set(found) - {SeriesProblem.series_empty}:
        raise ValueError("the pattern breaks a limit; see Pattern.problems")
    out = []
    for offset in range(pattern.days):
        occurrence = pattern.occurrence_on(pattern.first + timedelta(days=offset), tz)
        if occurrence is not None:
            out.append(occurrence)
    return out


def check_all(calendar: Calendar, occurrences: Sequence[Interval], now: datetime) -> list[Refusal | None]:
    """For each occurrence, in order, why it cannot be booked, or None. An occurrence found
    bookable counts as booked for the ones after it, with the spot's buffer, so that a series
    never collides with itself."""
    taken: list[Interval] = []
    out: list[Refusal | None] = []
    for occurrence in occurrences:
        current = replace(calendar, bookings=calendar.bookings + tuple(taken)) if taken else calendar
        refusal = current.check(occurrence, now)
        out.append(refusal)
        if refusal is None:
            taken.append(occurrence)
    return out


def series_status(statuses: Iterable[Status]) -> Status:
    """A series' status from its bookings' statuses (as they stand, expiry applied): what the
    driver has to do or can expect next, in that order of urgency. `held` while one awaits the
    driver's confirmation, `requested` while one awaits the owner, `overstayed` while a car of one
    stays past its end, `confirmed` while one is reserved, `completed` when none is active and one
    was used; otherwise `expired`, `declined` or `no_show` when every one ended so, else
    `cancelled`."""
    found = set(statuses)
    for status in (Status.held, Status.requested, Status.overstayed, Status.confirmed, Status.completed):
        if status in found:
            return status
    if len(found) == 1 and found <= {Status.expired, Status.declined, Status.no_show}:
        return found.pop()
    return Status.cancelled
