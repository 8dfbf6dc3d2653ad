"""The export document (GDPR Art. 15/20) and the erasure request (Art. 17)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from app.availability.schemas import BlackoutOut, RuleOut, WindowOut
from app.bookings.schemas import BookingOut
from app.bookings.series_schemas import SeriesOut
from app.events.webhook_schemas import WebhookOut
from app.reviews.schemas import ReviewOut
from app.schemas import RequestModel, ResponseModel, UtcDatetime
from app.spots.schemas import SpotOut
from app.users.schemas import UserOut


class EraseRequest(RequestModel):
    # Compared with the stored hash like a sign-in's password, never stored.
    password: Annotated[str, StringConstraints(min_length=1, max_length=256, strict=True)]


class ExportedVehicle(ResponseModel):
    id: uuid.UUID
    license_plate: str
    length_cm: int | None
    width_cm: int | None
    height_cm: int | None
    electric: bool
    created_at: UtcDatetime
    removed_at: UtcDatetime | None = Field(description="When it was removed; kept for old bookings.")


class ExportedSpot(BaseModel):
    spot: SpotOut = Field(description="The spot as its owner sees it.")
    withdrawn_at: UtcDatetime | None
    rules: list[RuleOut]
    windows: list[WindowOut]
    blackouts: list[BlackoutOut]


class ExportedPushSubscription(BaseModel):
    id: uuid.UUID
    endpoint: str
    created_at: UtcDatetime


class ExportedRefreshToken(BaseModel):
    created_at: UtcDatetime
    expires_at: UtcDatetime
    used_at: UtcDatetime | None


class ExportedSession(BaseModel):
    id: uuid.UUID
    created_at: UtcDatetime
    revoked_at: UtcDatetime | None
    revoked_reason: str | None
    refresh_tokens: list[ExportedRefreshToken]


class ExportedCalendarFeed(BaseModel):
    spot_id: uuid.UUID | None = Field(description="The spot's feed; null for the driver's own feed.")
    created_at: UtcDatetime


class ExportedEvent(BaseModel):
    id: uuid.UUID
    type: str
    created_at: UtcDatetime
    booking_id: uuid.UUID | None
    data: dict[str, Any] = Field(description="The event's data as it was addressed to the caller.")


class ExportedMail(BaseModel):
    kind: str = Field(
        description="`verify_email`, `confirm_new_email`, `password_reset`, `password_changed` or `email_changed`."
    )
    to: str
    subject: str
    created_at: UtcDatetime
    sent_at: UtcDatetime | None
    failed_at: UtcDatetime | None = Field(description="When sending was given up.")


class ExportedConsent(BaseModel):
    purpose: Literal["push_notifications", "webhook", "calendar_feed"] = Field(
        description="What the account allowed the service to send elsewhere: pushes through its "
        "browser's push service, events to a URL of its own, its bookings to a calendar app."
    )
    given_at: UtcDatetime
    withdrawn_by: str = Field(description="The route that withdraws it.")


class ExportedReview(ReviewOut):
    hidden_at: UtcDatetime | None = Field(description="When an admin hid it (see the audit log)")


class AccountExport(BaseModel):
    exported_at: UtcDatetime
    profile: UserOut
    vehicles: list[ExportedVehicle]
    spots: list[ExportedSpot]
    bookings_as_driver: list[BookingOut]
    bookings_as_owner: list[BookingOut]
    booking_series: list[SeriesOut] = Field(
        description="The series booked as driver, with their occurrences (each also in `bookings_as_driver`)."
    )
    reviews_written: list[ExportedReview] = Field(
        description="The account's reviews of the other party of its bookings, hidden ones too."
    )
    reviews_received: list[ExportedReview] = Field(
        description="The reviews of the account (of its spots, or of it as driver) once they are "
        "shown: a review still waiting for the account's own is sealed until then, for the account "
        "as for everyone (at most 14 days after the booking's end)."
    )
    webhooks: list[WebhookOut]
    push_subscriptions: list[ExportedPushSubscription]
    sign_in_sessions: list[ExportedSession]
    calendar_feeds: list[ExportedCalendarFeed]
    events: list[ExportedEvent]
    emails: list[ExportedMail] = Field(
        description="Mails sent or to be sent to the account (never their links)."
    )
    consents: list[ExportedConsent] = Field(
        description="Everything else runs the contract of using the service (GDPR Art. 6(1)(b)) and "
        "needs no consent."
    )
    not_exported: dict[str, str] = Field(
        description="What else is stored about the account and why it is not part of the export."
    )
