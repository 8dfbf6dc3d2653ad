"""The booking engine: pure Python, no I/O, nothing from `app`.

- `intervals`: half-open `Interval` and normalised `IntervalSet`.
- `weekly`: weekly rules in a spot's local time, expanded to UTC across DST changes.
- `availability`: a spot's `Calendar` (rules, windows, blackouts, bookings) and `BookingPolicy`,
  giving the free intervals and whether an interval is bookable (a `Refusal` says why not).
- `pricing`: prices and refunds; `visits`: at the spot (the check-in window, the overstay fee, the
  no-show charge); `states`: the status machine; `sql`: which statuses are active, spelled in SQL.
"""

from booking.availability import BookingPolicy, Calendar, IntervalReason, ReasonCode, Refusal
from booking.intervals import Interval, IntervalSet, NaiveDatetimeError
from booking.weekly import WEEKDAYS, WeeklyRule, expand

__all__ = [
    "WEEKDAYS",
    "BookingPolicy",
    "Calendar",
    "Interval",
    "IntervalReason",
    "IntervalSet",
    "NaiveDatetimeError",
    "ReasonCode",
    "Refusal",
    "WeeklyRule",
    "expand",
]
