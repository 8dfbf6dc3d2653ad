"""Every table model, imported once so the metadata (and Alembic) knows them all."""

from app.admin.models import AuditEntry
from app.auth.models import LoginSession, RefreshToken
from app.availability.models import AvailabilityBlackout, AvailabilityRule, AvailabilityWindow, SpotOpenRange
from app.bookings.models import Booking, BookingEvent, BookingSeries, IdempotencyKey
from app.calendars.models import CalendarToken
from app.events.models import Delivery, Event, EventCursor, PushSubscription, Webhook
from app.mail.models import Mail
from app.ratelimit import RateLimit
from app.reviews.models import Review
from app.spots.models import Spot
from app.users.models import AccountToken, User, Vehicle

__all__ = [
    "AccountToken",
    "AuditEntry",
    "AvailabilityBlackout",
    "AvailabilityRule",
    "AvailabilityWindow",
    "Booking",
    "BookingEvent",
    "BookingSeries",
    "CalendarToken",
    "Delivery",
    "Event",
    "EventCursor",
    "IdempotencyKey",
    "LoginSession",
    "Mail",
    "PushSubscription",
    "RateLimit",
    "RefreshToken",
    "Review",
    "Spot",
    "SpotOpenRange",
    "User",
    "Vehicle",
    "Webhook",
]
