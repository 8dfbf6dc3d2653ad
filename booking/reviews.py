"""When a booking may be reviewed and when its reviews are shown: pure rules, no I/O.

Driver and owner each review the other once, from the booking's end (when it completes) until
`REVIEW_WINDOW` later. A review stays hidden until both have written one or the window is over, so
that neither answers the other's. The window counts from the booking's end, not from the moment the
sweeper writes `completed` down: that moment depends on how often the sweeper runs, and two
bookings that ended together must close together.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from booking.states import Status

REVIEW_WINDOW = timedelta(days=14)


class ReviewRefusal(StrEnum):
    not_over = "not_over"  # not completed (nor confirmed and past its end)
    window_closed = "window_closed"  # more than REVIEW_WINDOW after its end


def completed(status: Status | str, end: datetime, now: datetime, *, settled: bool = True) -> bool:
    """Completed, or confirmed and past its end (the sweeper will complete it: reads and reviews
    need not wait for it, as with a hold past its deadline) when `settled`: nothing is left for
    the at-the-spot jobs to decide (a car still parked will overstay; a booking never checked in
    where check-in is required will be a no-show)."""
    status = Status(status)
    return status is Status.completed or (status is Status.confirmed and end <= now and settled)


def review_refusal(
    status: Status | str, end: datetime, now: datetime, *, settled: bool = True
) -> ReviewRefusal | None:
    """Why a booking cannot be reviewed at `now`, or None if it can."""
    if not completed(status, end, now, settled=settled):
        return ReviewRefusal.not_over
    if now >= closes_at(end):
        return ReviewRefusal.window_closed
    return None


def closes_at(end: datetime) -> datetime:
    """The first instant at which the booking can no longer be reviewed: the window is half-open,
    `[end, end + REVIEW_WINDOW)`."""
    return end + REVIEW_WINDOW


def visible_at(end: datetime, now: datetime, *, other_written: bool) -> datetime:
    """When a review written at `now` is shown: at once (for both) when it is the second of the
    booking, else when the window closes."""
    return min(now, closes_at(end)) if other_written else closes_at(end)
