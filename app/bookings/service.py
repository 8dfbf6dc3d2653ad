"""Bookings: quotes, holds and requests, the status changes, lazy expiry and the sweeper.

Every change to a spot's bookings happens with the spot row locked (FOR NO KEY UPDATE), so the
availability and buffer check and the insert or update it allows are one step for that spot; the
exclusion constraint on `bookings` backs this up in the database. Status changes lock the booking
row. Lock order is always spot, then booking, so no two transactions wait on each other in a circle.

Booking is the hot path: its statements go to the raw connection (`app.db.raw_connection`). A new
booking takes two: the spot locked and its calendar read by one function
(`parkshare_spot_calendar`, whose lock is a statement of its own so that the calendar is read
with a snapshot taken after the lock), then the booking inserted with its events.

The decisions are here; the SQL is in `queries.py`, the problems in `errors.py`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

import asyncpg
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.availability.calendar import calendar_of, read_calendar
from app.bookings import notices, queries, views
from app.bookings.errors import (
    HOLD_EXPIRED,
    TAKEN,
    DeadlinePassed,
    HoldExpired,
    InvalidTransition,
    OwnSpot,
    SlotUnavailable,
    SpotHasBookings,
    VehicleDoesNotFit,
    refused,
)
from app.bookings.models import Booking, BookingEvent
from app.bookings.queries import EXCLUSION, NewBooking, SpotTerms
from app.bookings.schemas import BookingCreate, BookingOut, EventOut, ReasonName
from app.db import as_row, raw_connection
from app.errors import Forbidden, NotFound
from app.events import outbox
from app.pagination import PageParams, paginate
from app.schemas import parse_id
from app.settings import Settings
from app.spots.models import Spot
from app.users.models import User, Vehicle
from app.users.service import own_vehicle
from booking import Calendar, Interval, ReasonCode, Refusal
from booking.availability import check_extension
from booking.pricing import CancellationPolicy, Quote, RefundStep, price, refund, refund_schedule
from booking.states import Action, Actor, NotAllowed, Status, TransitionError, next_status
from booking.visits import overstay_hourly_cents


async def _spot_terms(conn: asyncpg.Connection, spot_id: uuid.UUID, *, lock: bool) -> SpotTerms:
    spot = await queries.spot_terms(conn, spot_id, lock=lock)
    if spot is None:
        raise NotFound("no such spot")
    return spot


async def expire_due(
    session: AsyncSession, now: datetime, *, spot_id: uuid.UUID | None = None, batch: int = 1000
) -> int:
    """Marks the holds and requests past their deadline expired (see `queries.expire_due`), and
    tells their drivers and owners."""
    expired = await queries.expire_due(session, now, spot_id=spot_id, batch=batch)
    await notices.emit_by_id(session, expired, "booking.expired", now)
    return len(expired)


async def complete_due(session: AsyncSession, now: datetime, *, batch: int = 1000) -> int:
    completed = await queries.complete_due(session, now, batch=batch)
    await notices.emit_by_id(session, completed, "booking.completed", now)
    return len(completed)


# The reminders (API.md, "Events"): the driver hears of the start in time to get there, and of the
# end in time to extend.
STARTS_SOON = timedelta(minutes=30)
ENDS_SOON = timedelta(minutes=15)


class Reminded(NamedTuple):
    starts_soon: int
    ends_soon: int


async def remind_due(session: AsyncSession, now: datetime, *, batch: int = 1000) -> Reminded:
    """Sends `booking.starts_soon` and `booking.ends_soon` for the confirmed bookings due one,
    each once per start and per end however many processes run this (see `queries.starts_soon_due`).
    A hold or a request is no reservation yet, and a booking no longer confirmed has nothing to
    come."""
    starting = await queries.starts_soon_due(session, now, STARTS_SOON, batch=batch)
    await notices.emit_by_id(session, starting, "booking.starts_soon", now)
    ending = await queries.ends_soon_due(session, now, ENDS_SOON, batch=batch)
    await notices.emit_by_id(session, ending, "booking.ends_soon", now)
    return Reminded(len(starting), len(ending))


def _event(
    booking: Booking, kind: str, from_status: Status | None, actor: Actor, user: User | None, now: datetime
) -> BookingEvent:
    return BookingEvent(
        booking_id=booking.id,
        at=now,
        kind=kind,
        from_status=from_status,
        to_status=booking.status,
        actor=actor.value,
        by_user_id=user.id if user else None,
    )


def _record(
    session: AsyncSession,
    booking: Booking,
    kind: str,
    from_status: Status | None,
    actor: Actor,
    user: User | None,
    now: datetime,
) -> None:
    session.add(_event(booking, kind, from_status, actor, user, now))


async def _vehicle(
    session: AsyncSession, user: User, vehicle_id: str | None, spot: SpotTerms
) -> Vehicle | None:
    if vehicle_id is None:
        return None
    vehicle = await own_vehicle(session, user, vehicle_id)
    too_big = [
        name
        for name, size, limit in (
            ("length", vehicle.length_cm, spot.max_length_cm),
            ("width", vehicle.width_cm, spot.max_width_cm),
            ("height", vehicle.height_cm, spot.max_height_cm),
        )
        # A size the driver did not give cannot be checked; the spot's limits are shown to them.
        if size is not None and limit is not None and size > limit
    ]
    if too_big:
        raise VehicleDoesNotFit(f"the vehicle exceeds the spot's {', '.join(too_big)}")
    return vehicle


async def calendar_for_write(
    session: AsyncSession,
    conn: asyncpg.Connection,
    spot: SpotTerms,
    bounds: Interval,
    now: datetime,
    *,
    exclude: uuid.UUID | None = None,
) -> Calendar:
    """The calendar a booking write decides on, the spot locked. A hold or request past its
    deadline in reach does not block, but the exclusion constraint still counts it until it is
    marked expired: then the spot's stale ones are expired first. Most writes find none and skip
    that statement; the sweeper takes the rest."""
    calendar, stale = await read_calendar(conn, spot.id, spot.policy, bounds, now=now, exclude=exclude)
    if stale:
        await expire_due(session, now, spot_id=spot.id)
    return calendar


QuoteReason = ReasonName


def reason_name(code: ReasonCode) -> ReasonName:
    """The engine's reason as the API's `reason_code`."""
    match code:
        case ReasonCode.invalid_interval:
            return "invalid_interval"
        case ReasonCode.outside_availability:
            return "outside_availability"
        case ReasonCode.slot_unavailable:
            return "slot_unavailable"


async def _fit_reason(
    session: AsyncSession, user: User, vehicle_id: str | None, spot: SpotTerms
) -> Literal["vehicle_does_not_fit"] | None:
    """What `create` would refuse with 422 `vehicle_does_not_fit`, as a quote's reason."""
    try:
        await _vehicle(session, user, vehicle_id, spot)
    except VehicleDoesNotFit:
        return "vehicle_does_not_fit"
    return None


async def early_reason(
    session: AsyncSession, user: User, vehicle_id: str | None, spot: SpotTerms
) -> QuoteReason | None:
    """What a quote answers before looking at any interval: the caller's own spot, or a vehicle
    that does not fit (a vehicle that is not theirs is 422, as when booking)."""
    return "own_spot" if spot.owner_id == user.id else await _fit_reason(session, user, vehicle_id, spot)


@dataclass(frozen=True)
class QuoteResult:
    reason_code: QuoteReason | None
    refusal: Refusal | None  # with the reason and limit of an invalid interval
    amount: Quote
    policy: CancellationPolicy
    refunds: tuple[RefundStep, ...]


async def quote(
    session: AsyncSession,
    user: User,
    spot_id: str,
    start: datetime,
    end: datetime,
    now: datetime,
    *,
    vehicle_id: str | None = None,
) -> QuoteResult:
    """What booking would answer, without booking, with its reasons in the order `create` checks
    them: own spot, the vehicle, the rules, the calendar. The interval is checked against the
    spot's rules before anything else: an invalid one is neither priced nor looked up (its price is
    0, its breakdown and refunds empty), so no request makes work grow with the length it asks for."""
    conn = await raw_connection(session)
    spot = await _spot_terms(conn, parse_id(spot_id, "spot"), lock=False)
    policy = spot.cancellation_policy
    early = await early_reason(session, user, vehicle_id, spot)
    refusal = spot.policy.check_interval(start, end, now)
    if refusal is not None:
        nothing = Quote(0, spot.tariff.currency, ())
        return QuoteResult(early or reason_name(refusal.code), refusal, nothing, policy, ())
    wanted = Interval(start, end)
    if early is None:
        calendar, _ = await read_calendar(conn, spot.id, spot.policy, wanted, now=now)
        refusal = calendar.check(wanted, now)
    amount = price(wanted, spot.tariff)
    steps = tuple(s for s in refund_schedule(policy, amount.total_cents, wanted.start) if s.until > now)
    return QuoteResult(
        early or (reason_name(refusal.code) if refusal else None), refusal, amount, policy, steps
    )


class Created(NamedTuple):
    """A booking just made and its driver's answer, built before the insert: the same view goes
    into the outbox with it."""

    booking: Booking
    answer: BookingOut


async def create(
    session: AsyncSession, settings: Settings, user: User, data: BookingCreate, now: datetime
) -> Created:
    # The spot locked and its calendar read in one round trip; the calendar only for an interval
    # no longer than the spot's longest booking (at most 30 days).
    conn = await raw_connection(session)
    read = await queries.spot_calendar(conn, parse_id(data.spot_id, "spot"), data.start, data.end, now)
    if read is None:
        raise NotFound("no such spot")
    spot = read.spot
    vehicle = await driver_vehicle(session, user, data.vehicle_id, spot)
    invalid = spot.policy.check_interval(data.start, data.end, now)
    if invalid is not None:
        raise refused(invalid)
    wanted = Interval(data.start, data.end)
    if read.calendar is None:  # unreachable: the rules refuse what the function did not read
        calendar = await calendar_for_write(session, conn, spot, wanted, now)
    else:
        calendar, stale = calendar_of(read.calendar, spot.policy)
        if stale:
            await expire_due(session, now, spot_id=spot.id)
    refusal = calendar.check(wanted, now)
    if refusal is not None:
        raise refused(refusal)
    new = await prepare(session, settings, spot, user, vehicle, wanted, now)
    await insert(session, conn, [new])
    return Created(new.booking, new.answer)


async def spot_for(
    session: AsyncSession, spot_id: uuid.UUID, *, lock: bool = True
) -> tuple[asyncpg.Connection, SpotTerms]:
    """The request's raw connection and the spot's terms (404 for no such spot); with `lock`, the
    spot locked for this transaction's booking writes: the first step of every write that adds
    bookings."""
    conn = await raw_connection(session)
    return conn, await _spot_terms(conn, spot_id, lock=lock)


async def driver_vehicle(
    session: AsyncSession, user: User, vehicle_id: str | None, spot: SpotTerms
) -> Vehicle | None:
    """What a driver books with, after the checks every booking makes first: not their own spot,
    and the vehicle theirs and fitting."""
    if spot.owner_id == user.id:
        raise OwnSpot("you cannot book your own spot")
    return await _vehicle(session, user, vehicle_id, spot)


class Prepared(NamedTuple):
    """A booking ready to insert: the row, its first history row, its outbox event, and the
    driver's answer, built before the insert because the event carries it."""

    booking: Booking
    event: BookingEvent
    notice: outbox.NewEvent
    answer: BookingOut


async def prepare(
    session: AsyncSession,
    settings: Settings,
    spot: SpotTerms,
    user: User,
    vehicle: Vehicle | None,
    wanted: Interval,
    now: datetime,
    *,
    series_id: uuid.UUID | None = None,
) -> Prepared:
    """A new booking of `wanted`, checked by the caller: held on an instant-book spot, else
    requested, priced by the spot's tariff."""
    amount = price(wanted, spot.tariff)
    instant = spot.instant_book
    # Built as rows, not through the models' constructors: they are inserted by `insert`'s SQL.
    booking = as_row(
        Booking,
        id=uuid.uuid4(),
        spot_id=spot.id,
        driver_id=user.id,
        vehicle_id=vehicle.id if vehicle else None,
        series_id=series_id,
        start_at=wanted.start,
        end_at=wanted.end,
        status=Status.held if instant else Status.requested,
        total_cents=amount.total_cents,
        currency=amount.currency,
        hold_expires_at=now + timedelta(seconds=settings.hold_ttl_seconds) if instant else None,
        request_expires_at=None
        if instant
        else min(now + timedelta(seconds=settings.request_ttl_seconds), wanted.start),
        created_at=now,
        updated_at=now,
    )
    event = as_row(
        BookingEvent,
        booking_id=booking.id,
        at=now,
        kind=f"booking.{booking.status.value}",
        from_status=None,
        to_status=booking.status,
        actor=Actor.driver.value,
        by_user_id=user.id,
    )
    answer = await views.new_booking_out(session, NewBooking(booking, event, spot), user, now)
    driver_data, owner_data = views.new_booking_event_views(answer)
    notice = outbox.NewEvent(
        type=event.kind,
        created_at=now,
        data=driver_data,
        owner_data=owner_data,
        booking_id=booking.id,
        driver_id=user.id,
        owner_id=spot.owner_id,
    )
    return Prepared(booking, event, notice, answer)


async def insert(session: AsyncSession, conn: asyncpg.Connection, new: list[Prepared]) -> None:
    """Inserts prepared bookings with their history and events, the spot locked (`spot_for`)."""
    rows = [(p.booking, p.event, p.notice) for p in new]
    try:
        if len(rows) == 1:
            await queries.insert_booking(conn, *rows[0])
        else:
            await queries.insert_bookings(conn, rows)
    except asyncpg.ExclusionViolationError as exc:
        # Unreachable while the spot lock is taken first; the constraint is the last word.
        if exc.constraint_name == EXCLUSION:
            raise SlotUnavailable(TAKEN.detail) from exc
        raise
    outbox.mark_written(session)


async def _flush_guarded(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        if EXCLUSION in str(exc.orig):
            raise SlotUnavailable(TAKEN.detail) from exc
        raise


class Access(NamedTuple):
    """A booking and the part its reader plays in it."""

    booking: Booking
    actor: Actor


async def get(session: AsyncSession, user: User, booking_id: str, *, for_update: bool = False) -> Access:
    """A booking its driver or its spot's owner may see; anyone else is told it does not exist."""
    query = queries.visible_to(user).where(col(Booking.id) == parse_id(booking_id, "booking"))
    if for_update:
        query = query.with_for_update(of=Booking).execution_options(populate_existing=True)
    booking = await session.scalar(query)
    if booking is None:
        raise NotFound("no such booking")
    return Access(booking, Actor.driver if booking.driver_id == user.id else Actor.owner)


def _transition(booking: Booking, action: Action, actor: Actor) -> Status:
    try:
        return next_status(Status(booking.status), action, actor)
    except TransitionError as exc:
        raise InvalidTransition(str(exc)) from None
    except NotAllowed as exc:
        raise Forbidden(str(exc)) from None


def deadline_passed(
    status: Status | str, hold_expires_at: datetime | None, request_expires_at: datetime | None, now: datetime
) -> datetime | None:
    """The deadline of a hold or request that has passed it at `now`: from then on it is expired,
    whether or not anything has written that down yet."""
    deadline = {Status.held: hold_expires_at, Status.requested: request_expires_at}.get(Status(status))
    return deadline if deadline is not None and now >= deadline else None


def as_of(out: BookingOut, now: datetime) -> BookingOut:
    """A booking as it stands at `now`: a hold or request past its deadline reads as expired,
    with the event the sweeper will write, so reading it before or after the sweeper gives the
    same answer. Nothing is written: reads stay reads."""
    deadline = deadline_passed(out.status, out.hold_expires_at, out.request_expires_at, now)
    if deadline is None:
        return out
    expired = EventOut(at=deadline, status="expired", by="system")
    return out.model_copy(
        update={"status": "expired", "updated_at": deadline, "events": [*out.events, expired]}
    )


async def _expire_if_due(session: AsyncSession, booking: Booking, action: Action, now: datetime) -> None:
    """A hold or request past its deadline is expired now, whatever the sweeper has done so far."""
    if action is Action.confirm and booking.status == Status.expired and booking.hold_expires_at is not None:
        # Expired from `held` (only holds have that deadline, and confirming clears it) by the
        # sweeper or another request: the same answer as if this request had come first.
        raise HoldExpired(HOLD_EXPIRED)
    deadline = deadline_passed(booking.status, booking.hold_expires_at, booking.request_expires_at, now)
    if deadline is None:
        return
    from_status = booking.status
    booking.status = Status.expired
    # It expired at its deadline, whenever that is noticed: the sweeper records the same.
    booking.updated_at = deadline
    _record(session, booking, "booking.expired", from_status, Actor.system, None, deadline)
    await notices.emit(session, [booking], "booking.expired", now)
    if action is Action.confirm and from_status == Status.held:
        raise HoldExpired(HOLD_EXPIRED)
    raise DeadlinePassed(f"the {from_status.value} booking expired")


async def change(
    session: AsyncSession,
    user: User,
    booking_id: str,
    action: Action,
    now: datetime,
    *,
    reason: str | None = None,
    erasing: bool = False,
) -> Booking:
    """confirm, approve, decline or cancel."""
    booking, actor = await get(session, user, booking_id, for_update=True)
    await _expire_if_due(session, booking, action, now)
    if action is Action.cancel and parked(booking) and not erasing:
        # Cancelling would free the interval for someone else while the car stands there, and
        # end the overstay watch: the driver checks out instead. (An account's erasure still
        # cancels: nobody is left to check out.)
        raise InvalidTransition("the driver has checked in: check out instead of cancelling")
    target = await apply(session, booking, action, actor, user, now, reason=reason)
    await notices.emit(session, [booking], f"booking.{target.value}", now)
    return booking


async def apply(
    session: AsyncSession,
    booking: Booking,
    action: Action,
    actor: Actor,
    user: User,
    now: datetime,
    *,
    reason: str | None = None,
) -> Status:
    """`action` by `actor` on a booking locked and not past its deadline: the status, the refund
    of a cancellation by the spot's policy, and the history row. The caller emits the event (one
    statement for many bookings)."""
    from_status = booking.status
    target = _transition(booking, action, actor)
    if target is Status.confirmed and from_status != Status.confirmed:
        await _keep_visit_rules(session, booking)
    if action is Action.cancel:
        paid = from_status == Status.confirmed
        booking.refund_cents = (
            refund(
                CancellationPolicy(booking.cancellation_policy)
                if booking.cancellation_policy is not None
                else await queries.cancellation_policy(session, booking.spot_id),
                booking.total_cents,
                booking.start_at,
                now,
                # Told that the car before them overstayed: the driver cancels free of charge.
                by_owner=actor is Actor.owner or booking.spot_occupied_at is not None,
            )
            if paid
            else 0
        )
        booking.cancel_reason = reason
    if target is Status.confirmed:
        # A confirmed booking has no deadline left to show.
        booking.hold_expires_at = booking.request_expires_at = None
    booking.status = target
    booking.updated_at = now
    _record(session, booking, f"booking.{target.value}", from_status, actor, user, now)
    return target


def parked(booking: Booking) -> bool:
    """Checked in and not checked out: the car is on the spot."""
    return booking.checked_in_at is not None and booking.checked_out_at is None


async def _keep_visit_rules(session: AsyncSession, booking: Booking) -> None:
    """The spot's cancellation policy, grace, overstay rate and no-show rules, as they are when the
    booking is confirmed, go with it: what the driver agreed to, whatever the owner changes later."""
    rules = (
        await session.execute(
            select(
                col(Spot.grace_min),
                col(Spot.hourly_cents),
                col(Spot.overstay_hourly_cents),
                col(Spot.check_in_required),
                col(Spot.no_show_after_min),
                col(Spot.cancellation_policy),
            ).where(col(Spot.id) == booking.spot_id)
        )
    ).one()
    booking.grace_min = rules.grace_min
    booking.overstay_hourly_cents = overstay_hourly_cents(rules.hourly_cents, rules.overstay_hourly_cents)
    booking.check_in_required = rules.check_in_required
    booking.no_show_after_min = rules.no_show_after_min
    booking.cancellation_policy = rules.cancellation_policy


async def extend(
    session: AsyncSession, user: User, booking_id: str, new_end: datetime, now: datetime
) -> Booking:
    booking, actor = await get(session, user, booking_id)
    conn = await raw_connection(session)
    spot = await _spot_terms(conn, booking.spot_id, lock=True)
    booking, actor = await get(session, user, booking_id, for_update=True)
    _transition(booking, Action.extend, actor)
    if booking.end_at <= now:
        raise InvalidTransition("the booking is over")
    current = Interval(booking.start_at, booking.end_at)
    # The rules first: the calendar is read only for an end they allow.
    invalid = spot.policy.check_extension(current, new_end, now)
    if invalid is not None:
        raise refused(invalid)
    calendar = await calendar_for_write(
        session, conn, spot, Interval(booking.start_at, new_end), now, exclude=booking.id
    )
    refusal = check_extension(calendar, current, new_end, now)
    if refusal is not None:
        raise refused(refusal)
    booking.end_at = new_end
    booking.total_cents = price(Interval(booking.start_at, new_end), spot.tariff).total_cents
    booking.updated_at = now
    await _flush_guarded(session)
    _record(session, booking, "booking.extended", booking.status, actor, user, now)
    await notices.emit(session, [booking], "booking.extended", now)
    return booking


async def list_mine(
    session: AsyncSession,
    user: User,
    *,
    role: Literal["driver", "owner"],
    statuses: list[Status] | None,
    start: datetime | None,
    end: datetime | None,
    page: PageParams,
    now: datetime,
) -> tuple[list[Booking], str | None]:
    """By status as of `now` (see `as_of`): a hold past its deadline is found as expired."""
    query = queries.mine(user, role=role, statuses=statuses, start=start, end=end, now=now)
    return await paginate(session, query, Booking, page, order_by="start_at")


async def release_spot(
    session: AsyncSession, spot: Spot, user: User, now: datetime, *, cancel_bookings: bool
) -> int:
    """Before a spot is withdrawn: its future bookings are cancelled by the owner (full refund),
    but confirmed ones only when the owner asked for it."""
    await expire_due(session, now, spot_id=spot.id)
    future = await queries.upcoming_active(session, spot.id, now)
    if any(b.status == Status.confirmed for b in future) and not cancel_bookings:
        raise SpotHasBookings(
            "the spot has confirmed upcoming bookings; pass cancel_bookings=true to cancel them with a full refund"
        )
    for booking in future:
        from_status = booking.status
        booking.refund_cents = booking.total_cents if from_status == Status.confirmed else 0
        booking.status = Status.cancelled
        booking.cancel_reason = "the owner withdrew the spot"
        booking.updated_at = now
        _record(session, booking, "booking.cancelled", from_status, Actor.owner, user, now)
    await notices.emit(session, future, "booking.cancelled", now)
    return len(future)


async def cancel_pending(
    session: AsyncSession,
    now: datetime,
    *,
    reason: str,
    driver_id: uuid.UUID | None = None,
    spot_id: uuid.UUID | None = None,
) -> int:
    """Moderation (app/admin/): the holds and requests of a driver, or of a spot, still before their
    deadline are cancelled by the system, with no charge; confirmed bookings stay. Those past their
    deadline are left to the expiry job. Drivers and owners are told (`booking.cancelled`)."""
    query = (
        select(Booking)
        .where(
            or_(
                and_(col(Booking.status) == Status.held, col(Booking.hold_expires_at) > now),
                and_(col(Booking.status) == Status.requested, col(Booking.request_expires_at) > now),
            )
        )
        .order_by(col(Booking.start_at), col(Booking.id))
        .with_for_update()
    )
    if driver_id is not None:
        query = query.where(col(Booking.driver_id) == driver_id)
    if spot_id is not None:
        query = query.where(col(Booking.spot_id) == spot_id)
    pending = list((await session.scalars(query)).all())
    for booking in pending:
        from_status = booking.status
        booking.refund_cents = 0
        booking.status = Status.cancelled
        booking.cancel_reason = reason
        booking.updated_at = now
        _record(session, booking, "booking.cancelled", from_status, Actor.system, None, now)
    await notices.emit(session, pending, "booking.cancelled", now)
    return len(pending)
