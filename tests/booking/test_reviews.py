from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from booking.reviews import REVIEW_WINDOW, ReviewRefusal, closes_at, review_refusal, visible_at
from booking.states import Status

END = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
offsets = st.timedeltas(min_value=timedelta(days=-30), max_value=timedelta(days=30))


def test_the_window_is_half_open_from_the_end() -> None:
    assert review_refusal(Status.completed, END, END) is None
    assert review_refusal(Status.completed, END, END + REVIEW_WINDOW - timedelta(microseconds=1)) is None
    assert review_refusal(Status.completed, END, END + REVIEW_WINDOW) is ReviewRefusal.window_closed


def test_a_confirmed_booking_past_its_end_counts_as_completed() -> None:
    assert review_refusal(Status.confirmed, END, END - timedelta(seconds=1)) is ReviewRefusal.not_over
    assert review_refusal(Status.confirmed, END, END) is None


@given(status=st.sampled_from(list(Status)), offset=offsets)
def test_only_completed_bookings_in_their_window(status: Status, offset: timedelta) -> None:
    now = END + offset
    refusal = review_refusal(status, END, now)
    over = status is Status.completed or (status is Status.confirmed and now >= END)
    if not over:
        assert refusal is ReviewRefusal.not_over
    elif now >= END + timedelta(days=14):
        assert refusal is ReviewRefusal.window_closed
    else:
        assert refusal is None


@given(offset=st.timedeltas(min_value=timedelta(0), max_value=REVIEW_WINDOW - timedelta(microseconds=1)))
def test_a_review_is_shown_at_the_second_or_when_the_window_closes(offset: timedelta) -> None:
    now = END + offset
    assert visible_at(END, now, other_written=False) == closes_at(END)
    assert visible_at(END, now, other_written=True) == now
    # Never later than the window's close, never before it was written.
    for other in (False, True):
        assert now <= visible_at(END, now, other_written=other) <= closes_at(END)
