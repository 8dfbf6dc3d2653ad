from __future__ import annotations

import pytest

from booking.states import (
    ACTIVE,
    TRANSITIONS,
    Action,
    Actor,
    NotAllowed,
    Status,
    TransitionError,
    next_status,
)


def test_the_happy_paths() -> None:
    assert next_status(Status.held, Action.confirm, Actor.driver) is Status.confirmed
    assert next_status(Status.requested, Action.approve, Actor.owner) is Status.confirmed
    assert next_status(Status.requested, Action.decline, Actor.owner) is Status.declined
    assert next_status(Status.confirmed, Action.complete, Actor.system) is Status.completed
    assert next_status(Status.confirmed, Action.extend, Actor.driver) is Status.confirmed
    # An overstayed booking is past its end: it is checked out or completed, not cancelled.
    for status in ACTIVE - {Status.overstayed}:
        assert next_status(status, Action.cancel, Actor.driver) is Status.cancelled
        assert next_status(status, Action.cancel, Actor.owner) is Status.cancelled


def test_who_may_do_what() -> None:
    with pytest.raises(NotAllowed):
        next_status(Status.held, Action.confirm, Actor.owner)
    with pytest.raises(NotAllowed):
        next_status(Status.requested, Action.approve, Actor.driver)
    with pytest.raises(NotAllowed):
        next_status(Status.held, Action.expire, Actor.driver)
    with pytest.raises(NotAllowed):
        next_status(Status.confirmed, Action.extend, Actor.owner)


@pytest.mark.parametrize("status", [s for s in Status if s not in ACTIVE])
def test_final_statuses_have_no_way_out(status: Status) -> None:
    for action in Action:
        for actor in Actor:
            with pytest.raises(TransitionError, match="cannot be"):
                next_status(status, action, actor)


def test_only_active_statuses_have_transitions() -> None:
    assert {status for status, _ in TRANSITIONS} == set(ACTIVE)
    # Nothing leads back into held or requested: a booking only moves forward.
    assert not {target for target, _ in TRANSITIONS.values()} & {Status.held, Status.requested}
