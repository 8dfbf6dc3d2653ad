"""The calendars domain's SQL: the feed tokens (stored as hashes) and the bookings of a feed.

A feed reads its bookings in one statement, with each booking's number of changes (its
`booking_events` rows) for `SEQUENCE`; what it shows of them is decided in `service.py`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.bookings.models import Booking, BookingEvent
from app.calendars.models import CalendarToken
from app.spots.models import Spot
from app.users.models import User
from booking.states import Status


async def replace_token(
    session: AsyncSession, user_id: uuid.UUID, spot_id: uuid.UUID | None, token_hash: bytes, now: datetime
) -> None:
    """Stores the hash of a new token for the spot (or the user's driver feed), replacing the one
    before: one statement, so two requests at once leave exactly one of their tokens valid."""
    row = insert(CalendarToken).values(
        id=uuid.uuid4(), user_id=user_id, spot_id=spot_id, token_hash=token_hash, created_at=now
    )
    # The partial unique indexes of calendar_tokens (app/calendars/models.py): one token per spot,
    # one driver's token per user.
    if spot_id is not None:
        target: dict[str, Any] = {
            "index_elements": ["spot_id"],
            "index_where": col(CalendarToken.spot_id).isnot(None),
        }
    else:
        target = {"index_elements": ["user_id"], "index_where": col(CalendarToken.spot_id).is_(None)}
    replaced = ("id", "user_id", "token_hash", "created_at")
    await session.execute(
        row.on_conflict_do_update(**target, set_={name: row.excluded[name] for name in replaced})
    )


async def spot_of_token(session: AsyncSession, spot_id: uuid.UUID, token_hash: bytes) -> Spot | None:
    """The spot whose feed the token opens: only that spot's, while it is listed and the token's
    holder owns it."""
    spot: Spot | None = await session.scalar(
        select(Spot)
        .join(CalendarToken, col(CalendarToken.spot_id) == col(Spot.id))
        .where(
            col(CalendarToken.token_hash) == token_hash,
            col(CalendarToken.spot_id) == spot_id,
            col(CalendarToken.user_id) == col(Spot.owner_id),
            col(Spot.deleted_at).is_(None),
        )
    )
    return spot


async def driver_of_token(session: AsyncSession, token_hash: bytes) -> User | None:
    user: User | None = await session.scalar(
        select(User)
        .join(CalendarToken, col(CalendarToken.user_id) == col(User.id))
        .where(col(CalendarToken.token_hash) == token_hash, col(CalendarToken.spot_id).is_(None))
    )
    return user


# What a driver's feed reads of a booking's spot: the public part, and the private part it shows
# only in the reveal window.
SPOT_FIELDS = (
    "title",
    "district",
    "lat",
    "lon",
    "street",
    "house_number",
    "postal_code",
    "city",
    "access_instructions",
    "reveal_before_min",
    "deleted_at",
)


def _changes() -> Any:
    """How many times the booking changed, its creation included."""
    return (
        select(func.count())
        .where(col(BookingEvent.booking_id) == col(Booking.id))
        .correlate(Booking)
        .scalar_subquery()
        .label("changes")
    )


def _kept(keep_since: datetime) -> Any:
    """The bookings a feed lists: those that end after `keep_since`, and of those that were
    cancelled, declined or expired (a hold or request past its deadline counts as expired then)
    only the ones that changed after it."""
    held, requested = col(Booking.status) == Status.held, col(Booking.status) == Status.requested
    return and_(
        col(Booking.end_at) > keep_since,
        or_(
            col(Booking.status).in_([Status.confirmed, Status.overstayed, Status.completed]),
            and_(held, col(Booking.hold_expires_at) > keep_since),
            and_(requested, col(Booking.request_expires_at) > keep_since),
            col(Booking.updated_at) > keep_since,
        ),
    )


def _nearest(query: Select[Any], now: datetime, limit: int) -> Select[Any]:
    """At most `limit` bookings, those nearest to `now` (a booking under way is nearest)."""
    distance = func.greatest(col(Booking.start_at) - now, now - col(Booking.end_at))
    return query.order_by(distance, col(Booking.id)).limit(limit)


async def spot_bookings(
    session: AsyncSession, spot_id: uuid.UUID, now: datetime, keep_since: datetime, limit: int
) -> list[Any]:
    """The spot's bookings for its owner's feed, each with its driver's display name (and nothing
    else of the driver)."""
    query = (
        select(Booking, _changes(), col(User.display_name))
        .join(User, col(User.id) == col(Booking.driver_id))
        .where(col(Booking.spot_id) == spot_id, _kept(keep_since))
    )
    return list((await session.execute(_nearest(query, now, limit))).all())


async def driver_bookings(
    session: AsyncSession, driver_id: uuid.UUID, now: datetime, keep_since: datetime, limit: int
) -> list[Any]:
    """A driver's bookings for their feed, each with what the feed may show of its spot (also of a
    withdrawn one)."""
    spot: list[Any] = [col(getattr(Spot, name)).label(f"spot_{name}") for name in SPOT_FIELDS]
    query = (
        select(Booking, _changes(), *spot)
        .join(Spot, col(Spot.id) == col(Booking.spot_id))
        .where(col(Booking.driver_id) == driver_id, _kept(keep_since))
    )
    return list((await session.execute(_nearest(query, now, limit))).all())
