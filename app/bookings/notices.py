"""A booking's changes into the outbox (app/events/outbox.py), each with the booking as its
driver and as its spot's owner would read it at that moment (API.md, "Events")."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.bookings import views
from app.bookings.models import Booking
from app.events import outbox


async def emit(
    session: AsyncSession, bookings: Sequence[Booking], type_: str, now: datetime
) -> list[outbox.NewEvent]:
    """One event of `type_` per booking, in this transaction. Flushes first, so the views read the
    change itself."""
    if not bookings:
        return []
    await session.flush()
    seen = await views.event_views(session, list(bookings), now)
    events = [
        outbox.NewEvent(
            type=type_,
            created_at=now,
            data=seen[b.id].driver_data,
            owner_data=seen[b.id].owner_data,
            booking_id=b.id,
            driver_id=b.driver_id,
            owner_id=seen[b.id].owner_id,
        )
        for b in bookings
    ]
    await outbox.add(session, events)
    return events


async def emit_by_id(
    session: AsyncSession, booking_ids: Sequence[uuid.UUID], type_: str, now: datetime
) -> None:
    """For changes made in SQL (the sweeper's): the bookings are read back first."""
    if not booking_ids:
        return
    rows = await session.scalars(
        select(Booking)
        .where(col(Booking.id).in_(list(booking_ids)))
        .execution_options(populate_existing=True)
    )
    await emit(session, list(rows.all()), type_, now)
