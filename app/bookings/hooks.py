"""Bookings' answers to the spots' hooks (app/spots/hooks.py), installed by app/wiring.py. The
other one, cancelling a withdrawn spot's bookings, is `service.release_spot` itself.

And the one hook of bookings itself, for the domain above it: the drivers' ratings, which the owner
of a request-to-book spot sees in a request (reviews answers it; bookings may not import reviews).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.bookings.models import Booking
from app.schemas import Rating
from app.spots.models import Spot
from app.users.models import User
from booking.states import Status


async def in_reveal_window(session: AsyncSession, spot: Spot, user: User, now: datetime) -> bool:
    """Whether the user holds a confirmed booking of the spot that is due: from
    `reveal_before_min` before its start until its end (the same window as
    `app.spots.service.reveals`)."""
    booked = await session.scalar(
        select(col(Booking.id))
        .where(
            col(Booking.spot_id) == spot.id,
            col(Booking.driver_id) == user.id,
            col(Booking.status) == Status.confirmed,
            col(Booking.start_at) <= now + timedelta(minutes=spot.reveal_before_min),
            col(Booking.end_at) > now,
        )
        .limit(1)
    )
    return booked is not None


async def has_confirmed(session: AsyncSession, spot: Spot, user: User, now: datetime) -> bool:
    """Whether the user holds a confirmed booking of the spot that has not ended (they still read
    the spot when an admin has unlisted it)."""
    booked = await session.scalar(
        select(col(Booking.id))
        .where(
            col(Booking.spot_id) == spot.id,
            col(Booking.driver_id) == user.id,
            col(Booking.status) == Status.confirmed,
            col(Booking.end_at) > now,
        )
        .limit(1)
    )
    return booked is not None


# The ratings of these drivers at `now` (reviews: the owners' shown reviews of them); a driver with
# none may be missing. One statement for any number.
DriverRatings = Callable[[AsyncSession, Sequence[uuid.UUID], datetime], Awaitable[Mapping[uuid.UUID, Rating]]]

_driver_ratings: DriverRatings | None = None


def install(*, driver_ratings: DriverRatings) -> None:
    global _driver_ratings
    _driver_ratings = driver_ratings


async def driver_ratings(
    session: AsyncSession, driver_ids: Sequence[uuid.UUID], now: datetime
) -> dict[uuid.UUID, Rating]:
    """Each driver's rating, `{average: null, count: 0}` for one without shown reviews."""
    if not driver_ids:
        return {}
    if _driver_ratings is None:
        raise RuntimeError("the booking hooks are not installed: call app.wiring.wire() first")
    found = await _driver_ratings(session, driver_ids, now)
    return {driver_id: found.get(driver_id) or Rating.none() for driver_id in driver_ids}
