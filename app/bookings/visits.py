"""At the spot: the driver's check-in and check-out, and the scheduler's overstays, the next
drivers it tells, the overstays it completes at their cap, and no-shows (docs/api.md, "At the spot").

The rules are in `booking.visits`; this module applies them with the booking row locked. The jobs
claim their rows with `FOR UPDATE SKIP LOCKED` and repeat the condition under the lock (READ
COMMITTED re-reads a row another run changed before locking it), so several processes running
them change each booking once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, exists, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from app.bookings import notices, service
from app.bookings.errors import InvalidTransition
from app.bookings.models import Booking, BookingEvent
from app.errors import Forbidden, NotFound
from app.spots.models import Spot
from app.users.models import User
from booking.intervals import format_instant
from booking.pricing import CancellationPolicy
from booking.states import Action, Actor, NotAllowed, Status, TransitionError, next_status
from booking.visits import (
    OVERSTAY_CAP,
    check_in_opens,
    no_show_refund,
    overstay_fee,
    overstay_hourly_cents,
)

# The next driver hears that the spot is occupied this long before their start (as with the
# `booking.starts_soon` reminder): in time to look for another spot, not hours ahead of a car that
# may well leave before then.
OCCUPIED_NOTICE = timedelta(minutes=30)
_MINUTE: ColumnElement[Any] = literal_column("interval '1 minute'")


def _history(
    booking: Booking, kind: str, from_status: Status, actor: Actor, user: User | None, at: datetime
) -> BookingEvent:
    return BookingEvent(
        booking_id=booking.id,
        at=at,
        kind=kind,
        from_status=from_status,
        to_status=booking.status,
        actor=actor.value,
        by_user_id=user.id if user else None,
    )


async def _drivers_booking(session: AsyncSession, user: User, booking_id: str) -> Booking:
    """The booking, locked, if `user` is its driver: its spot's owner may not check in or out for
    them (403), anyone else is told it does not exist (404)."""
    booking, actor = await service.get(session, user, booking_id, for_update=True)
    if actor is not Actor.driver:
        raise Forbidden("only the booking's driver checks in and out")
    return booking


def _allowed(booking: Booking, action: Action) -> Status:
    try:
        return next_status(Status(booking.status), action, Actor.driver)
    except (TransitionError, NotAllowed) as exc:
        raise InvalidTransition(str(exc)) from None


async def _spot(session: AsyncSession, booking: Booking) -> Spot:
    spot = await session.get(Spot, booking.spot_id)
    if spot is None:  # a booking's spot is only ever soft-deleted
        raise NotFound("no such spot")
    return spot


def fee(booking: Booking, spot: Spot, left_at: datetime) -> int:
    """The overstay fee of `booking` for a car that left at `left_at`, under the rules it was
    confirmed with (`service.apply` keeps them on the booking)."""
    return overstay_fee(
        end=booking.end_at,
        left_at=left_at,
        grace_min=booking.grace_min if booking.grace_min is not None else spot.grace_min,
        granularity_min=spot.granularity_min,
        hourly_cents=(
            booking.overstay_hourly_cents
            if booking.overstay_hourly_cents is not None
            else overstay_hourly_cents(spot.hourly_cents, spot.overstay_hourly_cents)
        ),
    )


async def check_in(session: AsyncSession, user: User, booking_id: str, now: datetime) -> Booking:
    """Records the arrival of a confirmed booking's driver, from 15 minutes before its start until
    its end. Checking in again answers the booking unchanged (a retry over a bad connection)."""
    booking = await _drivers_booking(session, user, booking_id)
    if booking.checked_in_at is not None:
        return booking
    _allowed(booking, Action.check_in)
    opens = check_in_opens(booking.start_at)
    if now < opens:
        raise InvalidTransition(f"check-in opens at {format_instant(opens)}, 15 minutes before the start")
    if now >= booking.end_at:
        raise InvalidTransition("the booking is over; it can no longer be checked in")
    booking.checked_in_at = now
    booking.updated_at = now
    session.add(_history(booking, "booking.checked_in", Status(booking.status), Actor.driver, user, now))
    await notices.emit(session, [booking], "booking.checked_in", now)
    return booking


async def check_out(session: AsyncSession, user: User, booking_id: str, now: datetime) -> Booking:
    """Records the departure of a driver who checked in. Before the end the booking stays
    confirmed (it is paid until then, and the sweeper completes it at its end); from the end on it
    is completed with its overstay fee. Checking out again answers the booking unchanged."""
    booking = await _drivers_booking(session, user, booking_id)
    if booking.checked_out_at is not None:
        return booking
    target = _allowed(booking, Action.check_out)
    if booking.checked_in_at is None:
        raise InvalidTransition("the booking was not checked in; check in first")
    from_status = Status(booking.status)
    booking.checked_out_at = now
    booking.updated_at = now
    over = now >= booking.end_at
    if over:
        booking.overstay_cents = fee(booking, await _spot(session, booking), now)
        booking.status = target
    session.add(_history(booking, "booking.checked_out", from_status, Actor.driver, user, now))
    await notices.emit(session, [booking], "booking.checked_out", now)
    if over:
        # Whoever follows completions (reviews, statements) hears of this one too.
        await notices.emit(session, [booking], "booking.completed", now)
    return booking


# The jobs. Each takes `now` (the scheduler passes the system clock; tests a fake one) and a batch
# size, and answers the bookings it changed.


async def _claim(session: AsyncSession, query: Any) -> list[Any]:
    rows = await session.execute(query.execution_options(populate_existing=True))
    return list(rows.all())


async def mark_overstays(session: AsyncSession, now: datetime, *, batch: int = 1000) -> list[Booking]:
    """Checked in, not checked out, and later than the end plus the spot's grace: `overstayed`."""
    query = (
        select(Booking)
        .join(Spot, col(Spot.id) == Booking.spot_id)
        .where(
            col(Booking.status) == Status.confirmed,
            col(Booking.checked_in_at).is_not(None),
            col(Booking.checked_out_at).is_(None),
            # Implied by the next condition; spelled out for the partial index on confirmed ends.
            col(Booking.end_at) < now,
            # Leaving at the very end of the grace is still free (`overstay_fee`): past it, overstayed.
            col(Booking.end_at) + func.coalesce(col(Booking.grace_min), col(Spot.grace_min)) * _MINUTE < now,
        )
        .order_by(col(Booking.id))
        .limit(batch)
        .with_for_update(of=Booking, skip_locked=True)
    )
    due = [row[0] for row in await _claim(session, query)]
    for booking in due:
        booking.status = Status.overstayed
        booking.updated_at = now
        session.add(_history(booking, "booking.overstayed", Status.confirmed, Actor.system, None, now))
    await notices.emit(session, due, "booking.overstayed", now)
    return due


async def tell_next_drivers(session: AsyncSession, now: datetime, *, batch: int = 1000) -> list[Booking]:
    """The confirmed bookings of a spot with an overstayed car on it that start within
    `OCCUPIED_NOTICE` (or have started) and have not ended: each driver is told once
    (`booking.spot_occupied`) and may cancel with a full refund from then on."""
    blocker = aliased(Booking)
    query = (
        select(Booking)
        .where(
            col(Booking.status) == Status.confirmed,
            col(Booking.spot_occupied_at).is_(None),
            col(Booking.start_at) <= now + OCCUPIED_NOTICE,
            col(Booking.end_at) > now,
            exists().where(
                col(blocker.spot_id) == col(Booking.spot_id),
                col(blocker.status) == Status.overstayed,
                col(blocker.end_at) <= col(Booking.start_at),
            ),
        )
        .order_by(col(Booking.id))
        .limit(batch)
        .with_for_update(of=Booking, skip_locked=True)
    )
    due = [row[0] for row in await _claim(session, query)]
    for booking in due:
        booking.spot_occupied_at = now
        booking.updated_at = now
    await notices.emit(session, due, "booking.spot_occupied", now)
    return due


async def complete_overstays(session: AsyncSession, now: datetime, *, batch: int = 1000) -> list[Booking]:
    """Overstays never checked out are completed `OVERSTAY_CAP` after their end, charged the fee
    up to then (the most an overstay costs); `checked_out_at` stays null."""
    query = (
        select(Booking, Spot)
        .join(Spot, col(Spot.id) == Booking.spot_id)
        .where(col(Booking.status) == Status.overstayed, col(Booking.end_at) <= now - OVERSTAY_CAP)
        .order_by(col(Booking.id))
        .limit(batch)
        .with_for_update(of=Booking, skip_locked=True)
    )
    rows = await _claim(session, query)
    for booking, spot in rows:
        booking.overstay_cents = fee(booking, spot, booking.end_at + OVERSTAY_CAP)
        booking.status = Status.completed
        booking.updated_at = now
        session.add(_history(booking, "booking.completed", Status.overstayed, Actor.system, None, now))
    done = [booking for booking, _ in rows]
    await notices.emit(session, done, "booking.completed", now)
    return done


async def mark_no_shows(session: AsyncSession, now: datetime, *, batch: int = 1000) -> list[Booking]:
    """On spots that require a check-in: confirmed bookings without one `no_show_after_min` after
    their start (or at their end, if sooner) become `no_show`, unless their driver was told that
    the spot is occupied (those complete as usual). No longer active, they free the rest
    of their interval; the driver is refunded what a cancellation at the start would refund."""
    query = (
        select(Booking, func.coalesce(col(Booking.cancellation_policy), col(Spot.cancellation_policy)))
        .join(Spot, col(Spot.id) == Booking.spot_id)
        .where(
            col(Booking.status) == Status.confirmed,
            col(Booking.checked_in_at).is_(None),
            # Told that the car before them overstayed, a driver may rightly stay away.
            col(Booking.spot_occupied_at).is_(None),
            # As it was when the booking was confirmed: a rule switched on later binds later bookings.
            func.coalesce(col(Booking.check_in_required), col(Spot.check_in_required)).is_(True),
            # Implied by the next condition; spelled out for the partial index on confirmed starts.
            col(Booking.start_at) < now,
            func.least(
                col(Booking.start_at)
                + func.coalesce(col(Booking.no_show_after_min), col(Spot.no_show_after_min)) * _MINUTE,
                col(Booking.end_at),
            )
            <= now,
        )
        .order_by(col(Booking.id))
        .limit(batch)
        .with_for_update(of=Booking, skip_locked=True)
    )
    rows = await _claim(session, query)
    for booking, policy in rows:
        booking.refund_cents = no_show_refund(
            CancellationPolicy(policy), booking.total_cents, booking.start_at
        )
        booking.status = Status.no_show
        booking.updated_at = now
        session.add(_history(booking, "booking.no_show", Status.confirmed, Actor.system, None, now))
    missed = [booking for booking, _ in rows]
    await notices.emit(session, missed, "booking.no_show", now)
    return missed


class Watched(NamedTuple):
    overstayed: int
    told_occupied: int
    completed: int
    no_shows: int


async def watch_due(session: AsyncSession, now: datetime, *, batch: int = 1000) -> Watched:
    """One batch of each job, in this transaction; the overstays first, so that their next
    drivers are told in the same run."""
    overstayed = await mark_overstays(session, now, batch=batch)
    told = await tell_next_drivers(session, now, batch=batch)
    completed = await complete_overstays(session, now, batch=batch)
    no_shows = await mark_no_shows(session, now, batch=batch)
    return Watched(len(overstayed), len(told), len(completed), len(no_shows))
