"""Bookings: quotes, holds and requests, the status changes, lazy expiry and the sweeper.

Every change to a spot's bookings happens with the spot row locked (FOR NO KEY UPDATE), so the
availability and buffer check and the insert or update it allows are one step for that spot; the
exclusion constraint on `bookings` backs this up in the database. Status changes lock the booking
row. Lock order is always spot, then booking, so no two transactions wait on each other in a circle.

Booking is the hot path: its three statements (lock the spot, read the calendar, insert the
booking with its event) go to the raw connection (`app.db.raw_connection`), and the lock is
a statement of its own, so that the calendar is read with a snapshot taken after the lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy import ColumnElement, Select, and_, not_, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.models import User
from app.availability.materialize import read_calendar
from app.bookings.models import Booking, BookingEvent
from app.bookings.schemas import BookingCreate, BookingOut, EventOut
from app.db import raw_connection
from app.errors import Conflict, Forbidden, NotFound, ProblemError
from app.pagination import PageParams, paginate
from app.schemas import parse_id
from app.settings import Settings
from app.spots.models import Spot
from app.users.models import Vehicle
from app.users.service import own_vehicle
from booking import BookingPolicy, Calendar, Interval, ReasonCode, Refusal
from booking.availability import check_extension
from booking.intervals import format_instant
from booking.pricing import CancellationPolicy, Quote, RefundStep, Tariff, price, refund, refund_schedule
from booking.states import ACTIVE, Action, Actor, NotAllowed, Status, TransitionError, next_status


class InvalidInterval(ProblemError):
    status = 422
    code = "invalid_interval"


class OutsideAvailability(ProblemError):
    status = 422
    code = "outside_availability"


class VehicleDoesNotFit(ProblemError):
    status = 422
    code = "vehicle_does_not_fit"


class SlotUnavailable(Conflict):
    code = "slot_unavailable"


class OwnSpot(Conflict):
    code = "own_spot"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class DeadlinePassed(InvalidTransition):
    # The booking is marked expired on the way: that write must survive the 409.
    keeps_writes = True


class HoldExpired(DeadlinePassed):
    code = "hold_expired"


class SpotHasBookings(Conflict):
    code = "spot_has_bookings"


REFUSALS: dict[ReasonCode, type[ProblemError]] = {
    ReasonCode.invalid_interval: InvalidInterval,
    ReasonCode.outside_availability: OutsideAvailability,
    ReasonCode.slot_unavailable: SlotUnavailable,
}
TAKEN = Refusal(ReasonCode.slot_unavailable)
EXCLUSION = "ex_bookings_spot_id_during"


@dataclass(frozen=True)
class SpotTerms:
    """What booking a spot depends on: its owner, booking rules, tariff and size limits."""

    id: uuid.UUID
    owner_id: uuid.UUID
    instant_book: bool
    policy: BookingPolicy
    tariff: Tariff
    cancellation_policy: CancellationPolicy
    max_length_cm: int | None
    max_width_cm: int | None
    max_height_cm: int | None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> SpotTerms:
        """From a spot's columns: a driver row, or a spot's `model_dump()`."""
        timezone = ZoneInfo(row["timezone"])
        return cls(
            id=row["id"],
            owner_id=row["owner_id"],
            instant_book=row["instant_book"],
            policy=BookingPolicy(
                timezone,
                granularity_min=row["granularity_min"],
                min_duration_min=row["min_duration_min"],
                max_duration_min=row["max_duration_min"],
                lead_time_min=row["lead_time_min"],
                horizon_days=row["horizon_days"],
                buffer_min=row["buffer_min"],
            ),
            tariff=Tariff(
                hourly_cents=row["hourly_cents"],
                granularity_min=row["granularity_min"],
                timezone=timezone,
                daily_cap_cents=row["daily_cap_cents"],
                currency=row["currency"],
            ),
            cancellation_policy=CancellationPolicy(row["cancellation_policy"]),
            max_length_cm=row["max_length_cm"],
            max_width_cm=row["max_width_cm"],
            max_height_cm=row["max_height_cm"],
        )


_SPOT_TERMS = """
select id, owner_id, instant_book, timezone, hourly_cents, daily_cap_cents, currency, granularity_min,
       min_duration_min, max_duration_min, lead_time_min, horizon_days, buffer_min, cancellation_policy,
       max_length_cm, max_width_cm, max_height_cm
from spots where id = $1 and deleted_at is null
"""


async def _spot_terms(conn: asyncpg.Connection, spot_id: uuid.UUID, *, lock: bool) -> SpotTerms:
    """A spot's terms; with `lock`, the spot's bookings are this transaction's to change until it
    ends. FOR NO KEY UPDATE leaves foreign-key checks of other tables on the spot unblocked."""
    row = await conn.fetchrow(_SPOT_TERMS + ("for no key update" if lock else ""), spot_id)
    if row is None:
        raise NotFound("no such spot")
    return SpotTerms.of(row)


# The sweeper and lazy expiry are one statement each: select the due rows with a lock, change them
# and write their events together, so running it twice, or in two processes, changes nothing twice.
# The change is dated `{at}`: a hold expired at its deadline, whenever the sweeper got to it, which
# is also what reads show before it has (`as_of`).
_SWEEP = """
with due as (
    select id, status from bookings
    where {due} {scope}
    order by id
    for update {skip}
    limit :batch
), changed as (
    update bookings b set status = :to_status, updated_at = {at}
    from due where b.id = due.id
    returning b.id, due.status as from_status, b.updated_at as at
)
insert into booking_events (booking_id, at, kind, from_status, to_status, actor)
select id, at, :kind, from_status, :to_status, 'system' from changed
"""
_DEADLINE = "case when b.status = 'held' then b.hold_expires_at else b.request_expires_at end"
_EXPIRY_DUE = (
    "((status = 'held' and hold_expires_at <= :now) or (status = 'requested' and request_expires_at <= :now))"
)
_COMPLETION_DUE = "status = 'confirmed' and end_at <= :now"


async def _sweep(
    session: AsyncSession,
    due: str,
    to_status: Status,
    now: datetime,
    spot_id: uuid.UUID | None,
    batch: int,
    at: str = ":now",
) -> int:
    statement = _SWEEP.format(
        due=due,
        at=at,
        scope="and spot_id = :spot_id" if spot_id else "",
        # The scheduler skips rows another process is on; a booking request waits for them, so it
        # decides on their final state.
        skip="" if spot_id else "skip locked",
    )
    params = {"now": now, "to_status": to_status.value, "kind": f"booking.{to_status.value}", "batch": batch}
    if spot_id:
        params["spot_id"] = spot_id
    result = await session.execute(text(statement), params)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def expire_due(
    session: AsyncSession, now: datetime, *, spot_id: uuid.UUID | None = None, batch: int = 1000
) -> int:
    return await _sweep(session, _EXPIRY_DUE, Status.expired, now, spot_id, batch, at=_DEADLINE)


async def complete_due(session: AsyncSession, now: datetime, *, batch: int = 1000) -> int:
    return await _sweep(session, _COMPLETION_DUE, Status.completed, now, None, batch)


def _event(
    booking: Booking, kind: str, from_status: str | None, actor: Actor, user: User | None, now: datetime
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
    from_status: str | None,
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


def refusal_members(refusal: Refusal) -> dict[str, Any]:
    """`reason` and `limit` of an invalid interval, as the API writes them (empty for others)."""
    if refusal.reason is None:
        return {}
    limit = refusal.limit
    return {
        "reason": refusal.reason.value,
        "limit": format_instant(limit) if isinstance(limit, datetime) else limit,
    }


def _refusal(refusal: Refusal) -> ProblemError:
    return REFUSALS[refusal.code](refusal.detail, extra=refusal_members(refusal))


async def _calendar_for_write(
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


QuoteReason = ReasonCode | Literal["own_spot", "vehicle_does_not_fit"]


async def _fit_reason(
    session: AsyncSession, user: User, vehicle_id: str | None, spot: SpotTerms
) -> Literal["vehicle_does_not_fit"] | None:
    """What `create` would refuse with 422 `vehicle_does_not_fit`, as a quote's reason."""
    try:
        await _vehicle(session, user, vehicle_id, spot)
    except VehicleDoesNotFit:
        return "vehicle_does_not_fit"
    return None


@dataclass(frozen=True)
class QuoteResult:
    reason_code: QuoteReason | None
    refusal: Refusal | None  # with the reason and limit of an invalid interval
    amount: Quote
    policy: str
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
    early: QuoteReason | None = (
        "own_spot" if spot.owner_id == user.id else await _fit_reason(session, user, vehicle_id, spot)
    )
    refusal = spot.policy.check_interval(start, end, now)
    if refusal is not None:
        nothing = Quote(0, spot.tariff.currency, ())
        return QuoteResult(early or refusal.code, refusal, nothing, policy.value, ())
    wanted = Interval(start, end)
    if early is None:
        calendar, _ = await read_calendar(conn, spot.id, spot.policy, wanted, now=now)
        refusal = calendar.check(wanted, now)
    amount = price(wanted, spot.tariff)
    steps = tuple(s for s in refund_schedule(policy, amount.total_cents, wanted.start) if s.until > now)
    return QuoteResult(early or (refusal.code if refusal else None), refusal, amount, policy.value, steps)


# The booking and its first event in one round trip. The event's foreign key is checked at the
# end of the statement, when the booking is there.
_INSERT = """
with booking as (
    insert into bookings (id, spot_id, driver_id, vehicle_id, start_at, end_at, status, total_cents,
                          currency, hold_expires_at, request_expires_at, created_at, updated_at)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
)
insert into booking_events (booking_id, at, kind, to_status, actor, by_user_id)
values ($1, $12, $13, $7, $14, $15)
"""


async def create(
    session: AsyncSession, settings: Settings, user: User, data: BookingCreate, now: datetime
) -> tuple[Booking, BookingEvent]:
    conn = await raw_connection(session)
    spot = await _spot_terms(conn, parse_id(data.spot_id, "spot"), lock=True)
    if spot.owner_id == user.id:
        raise OwnSpot("you cannot book your own spot")
    vehicle = await _vehicle(session, user, data.vehicle_id, spot)
    # The rules first: the calendar is read only for an interval they allow (at most 30 days).
    invalid = spot.policy.check_interval(data.start, data.end, now)
    if invalid is not None:
        raise _refusal(invalid)
    wanted = Interval(data.start, data.end)
    refusal = (await _calendar_for_write(session, conn, spot, wanted, now)).check(wanted, now)
    if refusal is not None:
        raise _refusal(refusal)
    amount = price(wanted, spot.tariff)
    instant = spot.instant_book
    booking = Booking(
        id=uuid.uuid4(),
        spot_id=spot.id,
        driver_id=user.id,
        vehicle_id=vehicle.id if vehicle else None,
        start_at=wanted.start,
        end_at=wanted.end,
        status=(Status.held if instant else Status.requested).value,
        total_cents=amount.total_cents,
        currency=amount.currency,
        hold_expires_at=now + timedelta(seconds=settings.hold_ttl_seconds) if instant else None,
        request_expires_at=None
        if instant
        else min(now + timedelta(seconds=settings.request_ttl_seconds), wanted.start),
        created_at=now,
        updated_at=now,
    )
    event = _event(booking, f"booking.{booking.status}", None, Actor.driver, user, now)
    try:
        await conn.execute(
            _INSERT,
            booking.id,
            booking.spot_id,
            booking.driver_id,
            booking.vehicle_id,
            booking.start_at,
            booking.end_at,
            booking.status,
            booking.total_cents,
            booking.currency,
            booking.hold_expires_at,
            booking.request_expires_at,
            now,
            event.kind,
            event.actor,
            event.by_user_id,
        )
    except asyncpg.ExclusionViolationError as exc:
        # Unreachable while the spot lock is taken first; the constraint is the last word.
        if exc.constraint_name == EXCLUSION:
            raise SlotUnavailable(TAKEN.detail) from exc
        raise
    return booking, event


async def _flush_guarded(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        if EXCLUSION in str(exc.orig):
            raise SlotUnavailable(TAKEN.detail) from exc
        raise


def _visible_to(user: User) -> Select[tuple[Booking]]:
    return (
        select(Booking)
        .join(Spot, Spot.id == Booking.spot_id)
        .where(or_(Booking.driver_id == user.id, Spot.owner_id == user.id))
    )


async def get(
    session: AsyncSession, user: User, booking_id: str, *, for_update: bool = False
) -> tuple[Booking, Actor]:
    """A booking its driver or its spot's owner may see; anyone else is told it does not exist."""
    query = _visible_to(user).where(Booking.id == parse_id(booking_id, "booking"))
    if for_update:
        query = query.with_for_update(of=Booking).execution_options(populate_existing=True)
    booking = await session.scalar(query)
    if booking is None:
        raise NotFound("no such booking")
    return booking, Actor.driver if booking.driver_id == user.id else Actor.owner


async def events_of(session: AsyncSession, bookings: list[Booking]) -> dict[uuid.UUID, list[BookingEvent]]:
    """The events of several bookings in one query, each list in time order."""
    out: dict[uuid.UUID, list[BookingEvent]] = {b.id: [] for b in bookings}
    if not bookings:
        return out
    rows = await session.scalars(
        select(BookingEvent)
        .where(BookingEvent.booking_id.in_(list(out)))  # type: ignore[attr-defined]
        .order_by(BookingEvent.at, BookingEvent.id)  # type: ignore[arg-type]
    )
    for event in rows:
        out[event.booking_id].append(event)
    return out


def _transition(booking: Booking, action: Action, actor: Actor) -> Status:
    try:
        return next_status(Status(booking.status), action, actor)
    except TransitionError as exc:
        raise InvalidTransition(str(exc)) from None
    except NotAllowed as exc:
        raise Forbidden(str(exc)) from None


def deadline_passed(
    status: str, hold_expires_at: datetime | None, request_expires_at: datetime | None, now: datetime
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


HOLD_EXPIRED = "the hold expired before it was confirmed; book again"


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
    booking.status = Status.expired.value
    # It expired at its deadline, whenever that is noticed: the sweeper records the same.
    booking.updated_at = deadline
    _record(session, booking, "booking.expired", from_status, Actor.system, None, deadline)
    await session.flush()
    if action is Action.confirm and from_status == Status.held:
        raise HoldExpired(HOLD_EXPIRED)
    raise DeadlinePassed(f"the {from_status} booking expired")


async def change(
    session: AsyncSession,
    user: User,
    booking_id: str,
    action: Action,
    now: datetime,
    *,
    reason: str | None = None,
) -> Booking:
    """confirm, approve, decline or cancel."""
    booking, actor = await get(session, user, booking_id, for_update=True)
    await _expire_if_due(session, booking, action, now)
    from_status = booking.status
    target = _transition(booking, action, actor)
    if action is Action.cancel:
        paid = from_status == Status.confirmed
        booking.refund_cents = (
            refund(
                CancellationPolicy(await _policy(session, booking)),
                booking.total_cents,
                booking.start_at,
                now,
                by_owner=actor is Actor.owner,
            )
            if paid
            else 0
        )
        booking.cancel_reason = reason
    if target is Status.confirmed:
        # A confirmed booking has no deadline left to show.
        booking.hold_expires_at = booking.request_expires_at = None
    booking.status = target.value
    booking.updated_at = now
    _record(session, booking, f"booking.{target.value}", from_status, actor, user, now)
    await session.flush()
    return booking


async def _policy(session: AsyncSession, booking: Booking) -> str:
    policy = await session.scalar(select(Spot.cancellation_policy).where(Spot.id == booking.spot_id))
    return str(policy)


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
        raise _refusal(invalid)
    calendar = await _calendar_for_write(
        session, conn, spot, Interval(booking.start_at, new_end), now, exclude=booking.id
    )
    refusal = check_extension(calendar, current, new_end, now)
    if refusal is not None:
        raise _refusal(refusal)
    booking.end_at = new_end
    booking.total_cents = price(Interval(booking.start_at, new_end), spot.tariff).total_cents
    booking.updated_at = now
    await _flush_guarded(session)
    _record(session, booking, "booking.extended", booking.status, actor, user, now)
    await session.flush()
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
    query = select(Booking)
    if role == "driver":
        query = query.where(Booking.driver_id == user.id)
    else:
        query = query.join(Spot, Spot.id == Booking.spot_id).where(Spot.owner_id == user.id)
    if statuses:
        query = query.where(or_(*(_has_status(s, now) for s in set(statuses))))
    if start is not None:
        query = query.where(Booking.end_at > start)
    if end is not None:
        query = query.where(Booking.start_at < end)
    return await paginate(session, query, Booking, page, order_by="start_at")


def _has_status(status: Status, now: datetime) -> ColumnElement[bool]:
    status_ = col(Booking.status)
    held_past = and_(status_ == Status.held, col(Booking.hold_expires_at) <= now)
    requested_past = and_(status_ == Status.requested, col(Booking.request_expires_at) <= now)
    if status is Status.expired:
        return or_(status_ == Status.expired, held_past, requested_past)
    if status in (Status.held, Status.requested):
        return and_(status_ == status, not_(held_past if status is Status.held else requested_past))
    return status_ == status


async def release_spot(
    session: AsyncSession, spot: Spot, user: User, now: datetime, *, cancel_bookings: bool
) -> int:
    """Before a spot is withdrawn: its future bookings are cancelled by the owner (full refund),
    but confirmed ones only when the owner asked for it."""
    await expire_due(session, now, spot_id=spot.id)
    future = list(
        (
            await session.scalars(
                select(Booking)
                .where(
                    Booking.spot_id == spot.id,
                    Booking.status.in_([s.value for s in ACTIVE]),
                    Booking.end_at > now,
                )  # type: ignore[attr-defined]
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).all()
    )
    if any(b.status == Status.confirmed for b in future) and not cancel_bookings:
        raise SpotHasBookings(
            "the spot has confirmed upcoming bookings; pass cancel_bookings=true to cancel them with a full refund"
        )
    for booking in future:
        from_status = booking.status
        booking.refund_cents = booking.total_cents if from_status == Status.confirmed else 0
        booking.status = Status.cancelled.value
        booking.cancel_reason = "the owner withdrew the spot"
        booking.updated_at = now
        _record(session, booking, "booking.cancelled", from_status, Actor.owner, user, now)
    await session.flush()
    return len(future)
