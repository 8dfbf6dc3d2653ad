"""Half-open time intervals `[start, end)` and normalised sets of them.

Every datetime here is timezone-aware; a naive one is refused, because comparing it with an aware
one is meaningless and Python would only fail later, far from the cause.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


class NaiveDatetimeError(ValueError):
    pass


def require_aware(value: datetime, name: str = "datetime") -> datetime:
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise NaiveDatetimeError(f"{name} must be timezone-aware, got {value!r}")
    return value


def format_instant(value: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, as the API writes instants."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + "Z"


@dataclass(frozen=True, slots=True)
class Interval:
    """`[start, end)`: contains `start`, not `end`; two intervals that only touch do not overlap.
    Both ends are stored in UTC whatever offset they came with."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        # Kept in UTC: Python subtracts and compares datetimes sharing one tzinfo by wall clock,
        # which is wrong across a DST change; in UTC arithmetic is real elapsed time.
        object.__setattr__(self, "start", require_aware(self.start, "start").astimezone(UTC))
        object.__setattr__(self, "end", require_aware(self.end, "end").astimezone(UTC))
        if not self.end > self.start:
            raise ValueError(f"an interval must end after it starts: [{self.start}, {self.end})")

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, other: Interval | datetime) -> bool:
        if isinstance(other, Interval):
            return self.start <= other.start and other.end <= self.end
        return self.start <= require_aware(other) < self.end

    def intersection(self, other: Interval) -> Interval | None:
        start, end = max(self.start, other.start), min(self.end, other.end)
        return Interval(start, end) if end > start else None

    def widened(self, by: timedelta) -> Interval:
        return Interval(self.start - by, self.end + by)

    def __repr__(self) -> str:
        return f"[{format_instant(self.start)}, {format_instant(self.end)})"


class IntervalSet:
    """An immutable set of instants kept as sorted, disjoint, non-touching intervals.

    Touching intervals are merged ([8, 12) and [12, 18) become [8, 18)), so the normal form is unique
    and equality of sets is equality of their interval lists. Set operations are linear sweeps over
    the sorted lists; building from unsorted input sorts once, O(n log n).
    """

    __slots__ = ("_intervals", "_starts")

    def __init__(self, intervals: Iterable[Interval] = ()) -> None:
        self._intervals: tuple[Interval, ...] = _normalise(sorted(intervals, key=lambda i: (i.start, i.end)))
        self._starts = [i.start for i in self._intervals]

    @classmethod
    def _from_normalised(cls, intervals: Sequence[Interval]) -> IntervalSet:
        new = cls.__new__(cls)
        new._intervals = tuple(intervals)
        new._starts = [i.start for i in intervals]
        return new

    @property
    def intervals(self) -> tuple[Interval, ...]:
        return self._intervals

    def __iter__(self) -> Iterator[Interval]:
        return iter(self._intervals)

    def __len__(self) -> int:
        return len(self._intervals)

    def __bool__(self) -> bool:
        return bool(self._intervals)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IntervalSet) and self._intervals == other._intervals

    def __hash__(self) -> int:
        return hash(self._intervals)

    def __repr__(self) -> str:
        return f"IntervalSet({', '.join(map(repr, self._intervals))})"

    @property
    def total(self) -> timedelta:
        return sum((i.length for i in self._intervals), timedelta())

    def union(self, other: IntervalSet) -> IntervalSet:
        merged = _merge_sorted(self._intervals, other._intervals)
        return IntervalSet._from_normalised(_normalise(merged))

    __or__ = union

    def intersection(self, other: IntervalSet) -> IntervalSet:
        out: list[Interval] = []
        a, b = self._intervals, other._intervals
        i = j = 0
        while i < len(a) and j < len(b):
            piece = a[i].intersection(b[j])
            if piece is not None:
                out.append(piece)
            if a[i].end <= b[j].end:
                i += 1
            else:
                j += 1
        return IntervalSet._from_normalised(out)

    __and__ = intersection

    def difference(self, other: IntervalSet) -> IntervalSet:
        out: list[Interval] = []
        b = other._intervals
        j = 0
        for interval in self._intervals:
            start = interval.start
            # Skip the removals that end before this interval begins; they cannot cut later ones.
            while j < len(b) and b[j].end <= start:
                j += 1
            k = j
            while k < len(b) and b[k].start < interval.end:
                if b[k].start > start:
                    out.append(Interval(start, b[k].start))
                start = max(start, b[k].end)
                if start >= interval.end:
                    break
                k += 1
            if start < interval.end:
                out.append(Interval(start, interval.end))
        return IntervalSet._from_normalised(out)

    __sub__ = difference

    def contains(self, item: Interval | datetime) -> bool:
        """Whether the whole interval (or the instant) lies inside the set. O(log n)."""
        start = item.start if isinstance(item, Interval) else require_aware(item)
        index = bisect.bisect_right(self._starts, start) - 1
        if index < 0:
            return False
        host = self._intervals[index]
        return host.contains(item)

    __contains__ = contains

    def overlaps(self, interval: Interval) -> bool:
        index = bisect.bisect_left(self._starts, interval.end)
        # Only the interval starting last before `interval.end` can reach into it: the set is disjoint.
        return index > 0 and self._intervals[index - 1].end > interval.start

    def clip(self, bounds: Interval) -> IntervalSet:
        return self.intersection(IntervalSet._from_normalised([bounds]))

    def gaps(self, within: Interval | None = None) -> IntervalSet:
        """The complement: inside `within` when given, else between the set's own intervals."""
        if within is None:
            if not self._intervals:
                return IntervalSet()
            within = Interval(self._intervals[0].start, self._intervals[-1].end)
        return IntervalSet._from_normalised([within]).difference(self)


def _merge_sorted(a: tuple[Interval, ...], b: tuple[Interval, ...]) -> list[Interval]:
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i].start <= b[j].start:
            out.append(a[i])
            i += 1
        else:
            out.append(b[j])
            j += 1
    out.extend(a[i:])
    out.extend(b[j:])
    return out


def _normalise(intervals: list[Interval]) -> tuple[Interval, ...]:
    """Merges overlapping and touching neighbours of a list sorted by start."""
    out: list[Interval] = []
    for interval in intervals:
        if out and interval.start <= out[-1].end:
            if interval.end > out[-1].end:
                out[-1] = Interval(out[-1].start, interval.end)
        else:
            out.append(interval)
    return tuple(out)
