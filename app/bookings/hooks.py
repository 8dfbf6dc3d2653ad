"""Bookings' answers to the spots' hooks (app/spots/hooks.py), installed by app/wiring.py. The
other one, cancelling a withdrawn spot's bookings, is `service.release_spot` itself."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.bookings.models import Booking
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
