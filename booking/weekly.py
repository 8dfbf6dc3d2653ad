"""Weekly availability rules written in a spot's local time, expanded into UTC intervals.

A rule such as "mon-fri 08:00-18:00, valid from X until Y" names local wall-clock times. On each
local date D inside [valid_from, valid_until] whose weekday is listed, it opens one window from D at
`start` to D at `end` (to D+1 when `end` is 24:00 or earlier than `start`, i.e. the rule spans
midnight; the weekday and validity are those of the day the window *starts*).

Wall-clock times that do not name exactly one instant are resolved like this (Europe/Berlin shown):

- A time that does not exist (2026-03-29 02:00-02:59, skipped when clocks jump to 03:00) is read as
  the first instant after the gap, 03:00 CEST (01:00 UTC). So "08:00-18:00" keeps its ten hours,
  "01:00-02:30" ends at 03:00 CEST and lasts one real hour, and "02:00-02:30" is empty that day.
- A time that happens twice (2026-10-25 02:00-02:59, when clocks go back from 03:00 CEST to 02:00
  CET) is read as its first occurrence, in summer time. So "08:00-18:00" keeps its ten hours,
  "00:00-06:00" lasts seven real hours, and "22:00-02:30" ends at 02:30 CEST (00:30 UTC).

Every window is an interval of real time between its two resolved boundaries.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from booking.intervals import Interval, IntervalSet, require_aware

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
# Expanding costs a step per day: no caller needs more than a spot's horizon and a few days (the
# materialised open ranges), so a longer span is a caller's bug, refused instead of computed.
LONGEST_EXPANSION = timedelta(days=2 * 366)


def weekday_numbers(names: Iterable[str]) -> frozenset[int]:
    """`mon`..`sun` as 0..6 (Monday first, as `date.weekday()`)."""
    days = set()
    for name in names:
        if name not in WEEKDAYS:
            raise ValueError(f"unknown weekday {name!r}; use {', '.join(WEEKDAYS)}")
        days.add(WEEKDAYS.index(name))
    return frozenset(days)


def parse_clock(value: str, *, allow_24: bool) -> int:
    """Minutes after midnight of "HH:MM"; "24:00" only where `allow_24`."""
    hours, sep, minutes = value.partition(":")
    if not (sep and len(hours) == 2 and len(minutes) == 2 and hours.isdigit() and minutes.isdigit()):
        raise ValueError(f"a time must look like HH:MM, got {value!r}")
    total = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or total > MINUTES_PER_DAY or (total == MINUTES_PER_DAY and not allow_24):
        raise ValueError(f"not a time of day: {value!r}")
    return total


def format_clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True, slots=True)
class WeeklyRule:
    weekdays: frozenset[int]  # 0 = Monday
    start_minute: int  # minutes after local midnight, 0..1439
    end_minute: int  # 1..1440; 1440 is 24:00; not after start_minute means the next day
    valid_from: date | None = None
    valid_until: date | None = None  # inclusive
    label: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.weekdays or not self.weekdays <= set(range(7)):
            raise ValueError("weekdays must be a non-empty subset of 0..6")
        if not 0 <= self.start_minute < MINUTES_PER_DAY:
            raise ValueError("start must be within the day")
        if not 0 <= self.end_minute <= MINUTES_PER_DAY:
            raise ValueError("end must be within the day or 24:00")
        if self.end_minute == self.start_minute:
            raise ValueError("a rule must not start and end at the same time")
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("valid_until must not be before valid_from")

    @classmethod
    def parse(
        cls,
        weekdays: Iterable[str],
        start_time: str,
        end_time: str,
        valid_from: date | None = None,
        valid_until: date | None = None,
    ) -> WeeklyRule:
        return cls(
            weekday_numbers(weekdays),
            parse_clock(start_time, allow_24=False),
            parse_clock(end_time, allow_24=True),
            valid_from,
            valid_until,
        )

    @property
    def spans_midnight(self) -> bool:
        return self.end_minute <= self.start_minute

    def applies_on(self, day: date) -> bool:
        return (
            day.weekday() in self.weekdays
            and (self.valid_from is None or day >= self.valid_from)
            and (self.valid_until is None or day <= self.valid_until)
        )

    def window_on(self, day: date, tz: ZoneInfo) -> Interval | None:
        """The window this rule opens on local date `day`, or None (not that day, or empty by DST)."""
        if not self.applies_on(day):
            return None
        start = local_instant(day, self.start_minute, tz)
        end_day = day + timedelta(days=1) if self.spans_midnight else day
        end = local_instant(end_day, self.end_minute, tz)
        return Interval(start, end) if end > start else None


def local_instant(day: date, minute: int, tz: ZoneInfo) -> datetime:
    """The UTC instant of local wall time `minute` after midnight of `day` (1440 = next midnight),
    resolved as the module documents: the first occurrence, or the end of a DST gap."""
    if minute == MINUTES_PER_DAY:
        day, minute = day + timedelta(days=1), 0
    wall = datetime.combine(day, time(minute // 60, minute % 60))
    first = wall.replace(tzinfo=tz, fold=0)
    instant = first.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) != wall:
        # The wall time does not exist: zoneinfo applied the offset from before the gap, which lands
        # after the gap by the gap's length. The gap ends at the first valid instant after `wall`,
        # which is where the offset changes; find it from the later offset.
        later = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
        instant = _gap_end(min(instant, later), max(instant, later), tz)
    return instant


def _gap_end(low: datetime, high: datetime, tz: ZoneInfo) -> datetime:
    """The instant in (low, high] where the zone's UTC offset changes (a DST gap's end)."""
    offset = low.astimezone(tz).utcoffset()
    # Transitions fall on whole minutes in every IANA zone: bisect over minutes.
    lo, hi = 0, int((high - low).total_seconds() // 60)
    while lo < hi:
        mid = (lo + hi) // 2
        if (low + timedelta(minutes=mid)).astimezone(tz).utcoffset() == offset:
            lo = mid + 1
        else:
            hi = mid
    return low + timedelta(minutes=lo)


def expand(rules: Iterable[WeeklyRule], tz: ZoneInfo, bounds: Interval) -> IntervalSet:
    """All windows of `rules` that meet `bounds`, clipped to it, as UTC intervals."""
    if bounds.length > LONGEST_EXPANSION:
        raise ValueError(f"refusing to expand rules over more than {LONGEST_EXPANSION.days} days")
    rules = list(rules)
    if not rules:
        return IntervalSet()
    return IntervalSet(_windows(rules, tz, bounds)).clip(bounds)


def _windows(rules: list[WeeklyRule], tz: ZoneInfo, bounds: Interval) -> Iterator[Interval]:
    require_aware(bounds.start)
    # A window starting the local day before `bounds` may reach into it when it spans midnight.
    day = bounds.start.astimezone(tz).date() - timedelta(days=1)
    last = bounds.end.astimezone(tz).date()
    while day <= last:
        for rule in rules:
            window = rule.window_on(day, tz)
            if window is not None and window.overlaps(bounds):
                yield window
        day += timedelta(days=1)
