"""The booking status machine: which transitions exist and who may make them.

    held      -> confirmed (driver pays) | expired (system) | cancelled (driver, owner)
    requested -> confirmed (owner approves) | declined (owner) | expired (system) | cancelled (driver, owner)
    confirmed -> completed (system, after the end; driver, checking out after the end)
               | cancelled (driver, owner) | confirmed (driver extends, checks in, checks out early)
               | overstayed (system, checked in and not out by the end plus the spot's grace)
               | no_show (system, no check-in in time on a spot that requires it)
    overstayed -> completed (driver checks out; system, at the overstay cap)

`held`, `requested`, `confirmed` and `overstayed` are active: they hold their interval against
other bookings. An overstayed car is still on the spot, so its booking keeps counting as taken.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    held = "held"
    requested = "requested"
    confirmed = "confirmed"
    declined = "declined"
    expired = "expired"
    cancelled = "cancelled"
    completed = "completed"
    overstayed = "overstayed"
    no_show = "no_show"


ACTIVE = frozenset({Status.held, Status.requested, Status.confirmed, Status.overstayed})


class Actor(StrEnum):
    driver = "driver"
    owner = "owner"
    system = "system"


class Action(StrEnum):
    confirm = "confirm"
    approve = "approve"
    decline = "decline"
    cancel = "cancel"
    extend = "extend"
    expire = "expire"
    complete = "complete"
    check_in = "check_in"
    check_out = "check_out"
    overstay = "overstay"
    miss = "miss"  # the driver did not come: a no-show


# (status, action) -> (next status, who may do it)
TRANSITIONS: dict[tuple[Status, Action], tuple[Status, frozenset[Actor]]] = {
    (Status.held, Action.confirm): (Status.confirmed, frozenset({Actor.driver})),
    (Status.held, Action.expire): (Status.expired, frozenset({Actor.system})),
    (Status.held, Action.cancel): (Status.cancelled, frozenset({Actor.driver, Actor.owner})),
    (Status.requested, Action.approve): (Status.confirmed, frozenset({Actor.owner})),
    (Status.requested, Action.decline): (Status.declined, frozenset({Actor.owner})),
    (Status.requested, Action.expire): (Status.expired, frozenset({Actor.system})),
    (Status.requested, Action.cancel): (Status.cancelled, frozenset({Actor.driver, Actor.owner})),
    (Status.confirmed, Action.complete): (Status.completed, frozenset({Actor.system})),
    (Status.confirmed, Action.cancel): (Status.cancelled, frozenset({Actor.driver, Actor.owner})),
    (Status.confirmed, Action.extend): (Status.confirmed, frozenset({Actor.driver})),
    (Status.confirmed, Action.check_in): (Status.confirmed, frozenset({Actor.driver})),
    # Before the end the booking stays confirmed (paid until its end); from the end on it is over.
    (Status.confirmed, Action.check_out): (Status.completed, frozenset({Actor.driver})),
    (Status.confirmed, Action.overstay): (Status.overstayed, frozenset({Actor.system})),
    (Status.confirmed, Action.miss): (Status.no_show, frozenset({Actor.system})),
    (Status.overstayed, Action.check_out): (Status.completed, frozenset({Actor.driver})),
    (Status.overstayed, Action.complete): (Status.completed, frozenset({Actor.system})),
}


class TransitionError(ValueError):
    """Raised for a transition that does not exist from this status."""


class NotAllowed(PermissionError):
    """Raised when the transition exists but this actor may not make it."""


def next_status(status: Status, action: Action, actor: Actor) -> Status:
    try:
        target, actors = TRANSITIONS[(status, action)]
    except KeyError:
        raise TransitionError(f"a {status.value} booking cannot be {_past(action)}") from None
    if actor not in actors:
        raise NotAllowed(f"the {actor.value} may not {action.value} a {status.value} booking")
    return target


def _past(action: Action) -> str:
    return {
        Action.confirm: "confirmed",
        Action.approve: "approved",
        Action.decline: "declined",
        Action.cancel: "cancelled",
        Action.extend: "extended",
        Action.expire: "expired",
        Action.complete: "completed",
        Action.check_in: "checked in",
        Action.check_out: "checked out",
        Action.overstay: "marked overstayed",
        Action.miss: "marked a no-show",
    }[action]
