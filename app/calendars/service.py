"""Calendar feeds: the secret tokens of their URLs, and what each feed shows of a booking.

A token is 32 random bytes (43 URL-safe characters); only its SHA-256 is stored, and a feed
request finds its token by that hash. Issuing a new token replaces the old row, which revokes the
old URL. Tokens are never logged (the access log's line hides them: `app.middleware.RedactQuery`).

Two feeds (docs/api.md, "Calendar feeds"):

- a spot's, for its owner: every booking of the spot, the driver shown by display name only (no
  e-mail, phone or plate, in any status or window);
- a driver's: their bookings, with the spot's title, district and rounded location, and its
  address and access details only while the spot's own view reveals them (a confirmed booking,
  from `reveal_before_min` before its start until its end: `app.spots.service.reveals`).

A booking is listed until 30 days after its end; a cancelled, declined or expired one only for 30
days after that change. A hold or request past its deadline is shown expired, as every other
read shows it (`app.bookings.service.as_of`). At most MAX_EVENTS bookings, those nearest to now.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.bookings.models import Booking
from app.bookings.service import deadline_passed
from app.calendars import queries
from app.calendars.feed import UID_DOMAIN, FeedEvent, render
from app.errors import NotFound
from app.spots.models import Spot
from app.spots.service import public_coordinate, reveals
from app.users.models import User
from booking.states import Status

KEEP = timedelta(days=30)
MAX_EVENTS = 2000
DRIVER_CALENDAR_NAME = "parkshare bookings"

# `secrets.token_urlsafe(32)`: 43 characters of the URL-safe base64 alphabet. Anything else is
# not a token of ours and is not looked up.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")

ICAL_STATUS = {
    Status.confirmed: "CONFIRMED",
    Status.completed: "CONFIRMED",
    Status.held: "TENTATIVE",
    Status.requested: "TENTATIVE",
    Status.cancelled: "CANCELLED",
    Status.declined: "CANCELLED",
    Status.expired: "CANCELLED",
    Status.overstayed: "CONFIRMED",
    Status.no_show: "CANCELLED",
}


class FeedNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("no such calendar feed (the token is wrong or was replaced)")


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def _issue(session: AsyncSession, user: User, spot: Spot | None, now: datetime) -> str:
    token = secrets.token_urlsafe(32)
    await queries.replace_token(session, user.id, spot.id if spot else None, _hash(token), now)
    return token


async def issue_spot_token(session: AsyncSession, spot: Spot, owner: User, now: datetime) -> str:
    """A new token for the spot's feed (the caller has checked that `owner` owns it)."""
    return await _issue(session, owner, spot, now)


async def issue_driver_token(session: AsyncSession, user: User, now: datetime) -> str:
    return await _issue(session, user, None, now)


def _known_hash(token: str) -> bytes:
    if _TOKEN.fullmatch(token) is None:
        raise FeedNotFound()
    return _hash(token)


# --- what a feed shows ------------------------------------------------------------------------


class _AsOf:
    """A booking's status, last change and number of changes at `now`: a hold or request past its
    deadline is expired then, one change more, whether or not the sweeper has written it yet."""

    def __init__(self, booking: Booking, changes: int, now: datetime) -> None:
        deadline = deadline_passed(booking.status, booking.hold_expires_at, booking.request_expires_at, now)
        self.status = Status.expired if deadline else Status(booking.status)
        self.modified = deadline or booking.updated_at
        self.sequence = max(changes - 1, 0) + (1 if deadline else 0)


def _titled(text: str, status: Status) -> str:
    return text if status in (Status.confirmed, Status.completed) else f"{text} ({status.value})"


def _event(booking: Booking, state: _AsOf, summary: str, **shown: Any) -> FeedEvent:
    return FeedEvent(
        uid=f"{booking.id}@{UID_DOMAIN}",
        start=booking.start_at,
        end=booking.end_at,
        status=ICAL_STATUS[state.status],
        sequence=state.sequence,
        created=booking.created_at,
        modified=state.modified,
        summary=_titled(summary, state.status),
        **shown,
    )


def _in_order(events: Iterable[FeedEvent]) -> list[FeedEvent]:
    return sorted(events, key=lambda e: (e.start, e.uid))


async def spot_feed(session: AsyncSession, spot_id: str, token: str, now: datetime) -> bytes:
    """The owner's feed of a spot; 404 for a wrong, replaced or other spot's token, and for a
    withdrawn spot."""
    token_hash = _known_hash(token)
    try:
        spot_uuid = uuid.UUID(spot_id)
    except ValueError:
        raise FeedNotFound() from None
    spot = await queries.spot_of_token(session, spot_uuid, token_hash)
    if spot is None:
        raise FeedNotFound()
    rows = await queries.spot_bookings(session, spot.id, now, now - KEEP, MAX_EVENTS)
    events = []
    for booking, changes, display_name in rows:
        state = _AsOf(booking, changes, now)
        events.append(_event(booking, state, f"Booked by {display_name}"))
    return render(spot.title, _in_order(events))


def _driver_event(booking: Booking, changes: int, spot: Any, now: datetime) -> FeedEvent:
    state = _AsOf(booking, changes, now)
    revealed = (
        state.status == Status.confirmed
        and spot.spot_deleted_at is None
        and reveals(
            start=booking.start_at, end=booking.end_at, reveal_before_min=spot.spot_reveal_before_min, now=now
        )
    )
    summary = f"Parking: {spot.spot_title}"
    if revealed:
        address = f"{spot.spot_street} {spot.spot_house_number}, {spot.spot_postal_code} {spot.spot_city}"
        access = spot.spot_access_instructions
        return _event(
            booking,
            state,
            summary,
            location=address,
            geo=(spot.spot_lat, spot.spot_lon),
            description=f"Access: {access}" if access else None,
        )
    upcoming = state.status == Status.confirmed and now < booking.start_at
    return _event(
        booking,
        state,
        summary,
        location=spot.spot_district,
        geo=(public_coordinate(spot.spot_lat), public_coordinate(spot.spot_lon)),
        description=_reveal_notice(spot.spot_reveal_before_min) if upcoming else None,
    )


def _reveal_notice(reveal_before_min: int) -> str:
    when = f"{reveal_before_min} minutes before the start" if reveal_before_min else "at the start"
    return f"The address and access details appear here {when}."


async def driver_feed(session: AsyncSession, token: str, now: datetime) -> bytes:
    """A driver's feed of their bookings; 404 for a wrong or replaced token."""
    driver = await queries.driver_of_token(session, _known_hash(token))
    if driver is None:
        raise FeedNotFound()
    rows = await queries.driver_bookings(session, driver.id, now, now - KEEP, MAX_EVENTS)
    events = [_driver_event(row[0], row[1], row, now) for row in rows]
    return render(DRIVER_CALENDAR_NAME, _in_order(events))


# --- conditional requests ---------------------------------------------------------------------


def etag(body: bytes) -> str:
    """A strong entity tag: the body's hash."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def not_modified(if_none_match: str | None, current: str) -> bool:
    """RFC 9110 If-None-Match: `*`, or a list of entity tags compared weakly (a `W/` prefix is
    ignored)."""
    if if_none_match is None:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == current for tag in if_none_match.split(","))
