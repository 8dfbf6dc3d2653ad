from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from app.schemas import Instant, Rating, RequestModel, ResponseModel, TimeSpan, UtcDatetime, line, token
from app.spots.schemas import LocationOut

StatusName = Literal[
    "held", "requested", "confirmed", "declined", "expired", "cancelled", "completed", "overstayed", "no_show"
]
ReasonName = Literal[
    "invalid_interval", "outside_availability", "slot_unavailable", "own_spot", "vehicle_does_not_fit"
]
IntervalReasonName = Literal[
    "end_before_start",
    "not_on_granularity",
    "too_short",
    "too_long",
    "in_the_past",
    "inside_lead_time",
    "beyond_horizon",
]


class _Interval(TimeSpan):
    spot_id: Annotated[str, token(64)] = Field(description="The spot's id")

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        # Replaces TimeSpan's check: an end not after the start is the booking rules' 422
        # `invalid_interval` with reason `end_before_start` (docs/api.md), not a `validation_error`.
        return value


class QuoteRequest(_Interval):
    vehicle_id: Annotated[str, token(64)] | None = Field(
        default=None,
        description="One of your vehicles: a quote for a vehicle too big for the spot says "
        "`vehicle_does_not_fit`",
    )


class BookingCreate(_Interval):
    vehicle_id: Annotated[str, token(64)] | None = Field(
        default=None, description="One of your vehicles; checked against the spot's size limits"
    )


class CancelRequest(RequestModel):
    reason: Annotated[str, line(500)] | None = None


class ExtendRequest(RequestModel):
    end: Instant


class BreakdownLine(ResponseModel):
    label: str
    amount_cents: int


class RefundStepOut(ResponseModel):
    until: UtcDatetime
    refund_cents: int


class CancellationOut(ResponseModel):
    policy: str
    refunds: list[RefundStepOut] = Field(
        description="In time order: a driver's cancellation before `until` returns `refund_cents`; after the last, nothing"
    )


class QuoteOut(ResponseModel):
    bookable: bool
    reason_code: ReasonName | None = None
    reason: IntervalReasonName | None = Field(
        default=None,
        description="Whenever the interval breaks the spot's rules: the rule it breaks. Usually with "
        "`reason_code` `invalid_interval`; beside `own_spot` or `vehicle_does_not_fit`, which are "
        "answered first, when the interval is also invalid",
    )
    limit: int | str | None = Field(
        default=None,
        description="With `reason`: the rule's limit, in minutes (granularity, durations, lead time) "
        "or as an instant (the latest allowed end for `beyond_horizon`, now for `in_the_past`, the "
        "start for `end_before_start`)",
    )
    total_cents: int
    currency: str
    breakdown: list[BreakdownLine]
    cancellation: CancellationOut


class EventOut(ResponseModel):
    at: UtcDatetime
    status: StatusName
    by: str = Field(
        description="The acting user's id, or `system` for expiry, completion, overstays and no-shows. "
        "A check-in or a check-out before the end is listed with the status it leaves (`confirmed`)"
    )


class BookingSpotOut(ResponseModel):
    """What a booking keeps showing of its spot, also after the spot is withdrawn."""

    title: str
    district: str | None
    location: LocationOut = Field(description="Rounded to 3 decimals, as in the public view")


class BookingOut(ResponseModel):
    id: uuid.UUID
    spot_id: uuid.UUID
    spot: BookingSpotOut
    driver_id: uuid.UUID
    driver_name: str = Field(description="The driver's display name")
    vehicle_id: uuid.UUID | None
    series_id: uuid.UUID | None = Field(
        description="The series this booking is an occurrence of (`GET /v1/booking-series/{series_id}`); "
        "null for a booking made alone"
    )
    license_plate: str | None = Field(
        description="The vehicle's plate: always for the driver; for the spot's owner only while the "
        "booking is confirmed, from `rules.reveal_before_min` before its start until its end; else null"
    )
    start: UtcDatetime
    end: UtcDatetime
    status: StatusName
    total_cents: int
    currency: str
    refund_cents: int | None = Field(
        description="Set once the booking is cancelled, or marked `no_show` (what the policy refunds for "
        "a cancellation at the start; the no-show is charged `total_cents - refund_cents`)"
    )
    hold_expires_at: UtcDatetime | None
    request_expires_at: UtcDatetime | None
    checked_in_at: UtcDatetime | None = Field(
        description="When the driver checked in (possible from 15 minutes before the start until the end)"
    )
    checked_out_at: UtcDatetime | None = Field(
        description="When the driver checked out; null for a booking never checked in, and for an "
        "overstay the system completed at its cap"
    )
    overstay_cents: int = Field(
        description="Charged on top of `total_cents` for leaving later than `end` plus the spot's "
        "`rules.grace_min`: from the end, per started granularity unit at `rules.overstay_hourly_cents`, "
        "at most 24 hours. Set at the check-out (or when the system completes the overstay); 0 otherwise"
    )
    spot_occupied_at: UtcDatetime | None = Field(
        description="When the driver was told (`booking.spot_occupied`) that the car of the booking "
        "before theirs overstayed and may still be on the spot. From then on cancelling this booking "
        "refunds it in full, also after its start"
    )
    created_at: UtcDatetime
    updated_at: UtcDatetime
    events: list[EventOut]
    driver_rating: Rating | None = Field(
        default=None,
        description="The driver's rating from the owners' reviews of them (average rounded to one "
        "decimal, and count), for the spot's owner while the booking is `requested` and waits for "
        "them to approve or decline; else null, and always null in events (read it with GET)",
    )
