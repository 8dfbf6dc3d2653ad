"""The problems the bookings domain answers, and how the engine's refusals become them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.errors import Conflict, ProblemError
from booking import ReasonCode, Refusal
from booking.intervals import format_instant


class InvalidInterval(ProblemError):
    status = 422
    code = "invalid_interval"


class OutsideAvailability(ProblemError):
    status = 422
    code = "outside_availability"


class VehicleDoesNotFit(ProblemError):
    status = 422
    code = "vehicle_does_not_fit"


class SlotUnavailable(Conflict):
    code = "slot_unavailable"


class OwnSpot(Conflict):
    code = "own_spot"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class DeadlinePassed(InvalidTransition):
    # The booking is marked expired on the way: that write must survive the 409.
    keeps_writes = True


class HoldExpired(DeadlinePassed):
    code = "hold_expired"


class SeriesConflict(Conflict):
    """Occurrences of a series that cannot be booked: `errors` names each, with its `reason_code`."""

    code = "series_conflict"


class SpotHasBookings(Conflict):
    code = "spot_has_bookings"


class KeyReused(ProblemError):
    status = 422
    code = "idempotency_key_reused"


class InProgress(Conflict):
    code = "idempotency_in_progress"


HOLD_EXPIRED = "the hold expired before it was confirmed; book again"
TAKEN = Refusal(ReasonCode.slot_unavailable)

REFUSALS: dict[ReasonCode, type[ProblemError]] = {
    ReasonCode.invalid_interval: InvalidInterval,
    ReasonCode.outside_availability: OutsideAvailability,
    ReasonCode.slot_unavailable: SlotUnavailable,
}


def refusal_members(refusal: Refusal) -> dict[str, Any]:
    """`reason` and `limit` of an invalid interval, as the API writes them (empty for others)."""
    if refusal.reason is None:
        return {}
    limit = refusal.limit
    return {
        "reason": refusal.reason.value,
        "limit": format_instant(limit) if isinstance(limit, datetime) else limit,
    }


def refused(refusal: Refusal) -> ProblemError:
    """The problem answering one of the engine's refusals."""
    return REFUSALS[refusal.code](refusal.detail, extra=refusal_members(refusal))
