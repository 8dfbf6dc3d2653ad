"""The booking status machine: which transitions exist and who may make them.

    held      -> confirmed (driver pays) | expired (system) | cancelled (driver, owner)
    requested -> confirmed (owner approves) | declined (owner) | expired (system) | cancelled (driver, owner)
    confirmed -> completed (system, after the end) | cancelled (driver, owner) | confirmed (driver extends)

`held`, `requested` and `confirmed` are active: they hold their interval against other bookings.
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


ACTIVE = frozenset({Status.held, Status.requested, Status.confirmed})


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
    }[action]
