"""The bookings domain's SQL, in one place: the spot's terms, the insert of a booking with its
first event, the sweep and expiry statement, the reminders' marks, and the reads behind the
listings.

The booking hot path (`spot_terms`, `insert_booking`) runs on the raw asyncpg connection of the
request's transaction (`app.db.raw_connection`, docs/decisions/0004); the rest goes through the
session. Which statuses are active or still block is spelled once, in `booking.sql`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy import ColumnElement, Select, and_, not_, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.bookings.models import Booking, BookingEvent
from app.db import Row
from app.events import outbox
from app.spots.models import Spot
from app.users.models import User
from booking import BookingPolicy
from booking.pricing import CancellationPolicy, Tariff
from booking.sql import deadline, is_status, past_deadline
from booking.states import ACTIVE, Status

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
    # What a booking's answer shows of its spot, read with the terms so that the hot path reads
    # the spot row once.
    summary: dict[str, Any]

    @classmethod
    def of(cls, row: Row) -> SpotTerms:
        """From a spot's columns: an asyncpg row, or a spot's `model_dump()`."""
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
            summary={name: row[name] for name in ("title", "district", "lat", "lon", "reveal_before_min")},
        )


class NewBooking(NamedTuple):
    """A booking just made, with the one event written with it: its answer needs no read back."""

    booking: Booking
    event: BookingEvent
    spot: SpotTerms


_SPOT_TERMS = """
select id, owner_id, instant_book, timezone, hourly_cents, daily_cap_cents, currency, granularity_min,
       min_duration_min, max_duration_min, lead_time_min, horizon_days, buffer_min, cancellation_policy,
       max_length_cm, max_width_cm, max_height_cm, title, district, lat, lon, reveal_before_min
from spots where id = $1 and deleted_at is null and unlisted_at is null
"""


async def spot_terms(conn: asyncpg.Connection, spot_id: uuid.UUID, *, lock: bool) -> SpotTerms | None:
    """A spot's terms; with `lock`, the spot's bookings are this transaction's to change until it
    ends. FOR NO KEY UPDATE leaves foreign-key checks of other tables on the spot unblocked."""
    row = await conn.fetchrow(_SPOT_TERMS + ("for no key update" if lock else ""), spot_id)
    return SpotTerms.of(row) if row is not None else None


# The spot locked and its calendar read in one round trip, for a new booking (migration 0015):
# first a row of kind 'spot' with the terms as JSON and, in `blocks`, whether the calendar rows
# (`calendar_of`) follow. None for no such spot.
_SPOT_CALENDAR = "select * from parkshare_spot_calendar($1, $2, $3, $4)"


class SpotCalendar(NamedTuple):
    spot: SpotTerms
    # Not read for an interval longer than the spot's longest booking, which the rules refuse.
    calendar: list[asyncpg.Record] | None


async def spot_calendar(
    conn: asyncpg.Connection, spot_id: uuid.UUID, start: datetime, end: datetime, now: datetime
) -> SpotCalendar | None:
    """The spot locked as by `spot_terms`, and the calendar of [start, end) within reach of its
    buffer, with `now` saying which bookings still block."""
    rows = await conn.fetch(_SPOT_CALENDAR, spot_id, start, end, now)
    if not rows:
        return None
    first = rows[0]
    # SQLAlchemy's connections decode JSON themselves; a bare asyncpg connection gives the text.
    terms = first["spot"] if isinstance(first["spot"], dict) else json.loads(first["spot"])
    terms["id"], terms["owner_id"] = uuid.UUID(terms["id"]), uuid.UUID(terms["owner_id"])
    return SpotCalendar(SpotTerms.of(terms), rows[1:] if first["blocks"] else None)


async def cancellation_policy(session: AsyncSession, spot_id: uuid.UUID) -> CancellationPolicy:
    policy = (
        await session.execute(select(col(Spot.cancellation_policy)).where(col(Spot.id) == spot_id))
    ).scalar_one()
    return CancellationPolicy(policy)


# The booking, its first event and its notice in the outbox in one round trip. The foreign keys
# to the booking are checked at the end of the statement, when the booking is there.
_INSERT = """
with booking as (
    insert into bookings (id, spot_id, driver_id, vehicle_id, start_at, end_at, status, total_cents,
                          currency, hold_expires_at, request_expires_at, created_at, updated_at, series_id)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $20)
), history as (
    insert into booking_events (booking_id, at, kind, to_status, actor, by_user_id)
    values ($1, $12, $13, $7, $14, $15)
)
insert into events (id, type, created_at, booking_id, driver_id, owner_id, webhook_id, data, owner_data)
values ($16, $13, $12, $1, $3, $17, null, $18::jsonb, $19::jsonb)
"""


def _insert_args(booking: Booking, event: BookingEvent, notice: outbox.NewEvent) -> tuple[Any, ...]:
    return (
        booking.id,
        booking.spot_id,
        booking.driver_id,
        booking.vehicle_id,
        booking.start_at,
        booking.end_at,
        booking.status.value,
        booking.total_cents,
        booking.currency,
        booking.hold_expires_at,
        booking.request_expires_at,
        booking.created_at,
        event.kind,
        event.actor,
        event.by_user_id,
        notice.id,
        notice.owner_id,
        notice.data,
        notice.owner_data,
        booking.series_id,
    )


async def insert_booking(
    conn: asyncpg.Connection, booking: Booking, event: BookingEvent, notice: outbox.NewEvent
) -> None:
    """Raises `asyncpg.ExclusionViolationError` for an overlap the exclusion constraint refuses."""
    await conn.execute(_INSERT, *_insert_args(booking, event, notice))


async def insert_bookings(
    conn: asyncpg.Connection, rows: Sequence[tuple[Booking, BookingEvent, outbox.NewEvent]]
) -> None:
    """Several bookings at once (a series' occurrences): the same statement, pipelined in one
    round trip. Raises `asyncpg.ExclusionViolationError` like `insert_booking`."""
    await conn.executemany(_INSERT, [_insert_args(*row) for row in rows])


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
returning booking_id
"""
_EXPIRY_DUE = past_deadline(":now")
# Not those the at-the-spot jobs take (app/bookings/visits.py): a car checked in and not out
# becomes `overstayed` after the grace, and a booking never checked in on a spot that requires it
# becomes a no-show (unless its driver was told that the spot was occupied).
_COMPLETION_DUE = (
    f"{is_status(Status.confirmed)} and end_at <= :now"  # noqa: S608 - the engine's own spelling, no input
    " and (checked_in_at is null or checked_out_at is not null)"
    " and (checked_in_at is not null or spot_occupied_at is not null"
    " or not coalesce(bookings.check_in_required,"
    " (select s.check_in_required from spots s where s.id = bookings.spot_id)))"
)


async def _sweep(
    session: AsyncSession,
    due: str,
    to_status: Status,
    now: datetime,
    spot_id: uuid.UUID | None,
    batch: int,
    at: str = ":now",
) -> list[uuid.UUID]:
    statement = _SWEEP.format(
        due=due,
        at=at,
        scope="and spot_id = :spot_id" if spot_id else "",
        # The scheduler skips rows another process is on; a booking request waits for them, so it
        # decides on their final state.
        skip="" if spot_id else "skip locked",
    )
    params: dict[str, object] = {
        "now": now,
        "to_status": to_status.value,
        "kind": f"booking.{to_status.value}",
        "batch": batch,
    }
    if spot_id:
        params["spot_id"] = spot_id
    return list((await session.execute(text(statement), params)).scalars())


async def expire_due(
    session: AsyncSession, now: datetime, *, spot_id: uuid.UUID | None = None, batch: int = 1000
) -> list[uuid.UUID]:
    """Marks the holds and requests past their deadline expired, dated at their deadline; only
    those of `spot_id` when given (they are waited for, not skipped)."""
    return await _sweep(session, _EXPIRY_DUE, Status.expired, now, spot_id, batch, at=deadline("b."))


async def complete_due(session: AsyncSession, now: datetime, *, batch: int = 1000) -> list[uuid.UUID]:
    """Marks the confirmed bookings past their end completed."""
    return await _sweep(session, _COMPLETION_DUE, Status.completed, now, None, batch)


# The reminders: a confirmed booking whose start (or end) is at most `lead` ahead and has no
# reminder for that very time yet. The lock skips rows another run holds, and the UPDATE repeats
# the condition on the row it locked: under READ COMMITTED a run that locks a row after another
# run's commit re-reads it, finds the mark set and leaves it, so each reminder is sent once.
# `{mark}` holds the time the last reminder was for: an extension that moves the end earns one more.
_REMIND = """
with due as (
    select id from bookings
    where {due}
    order by id
    for update skip locked
    limit :batch
)
update bookings b set {mark} = b.{at}
from due where b.id = due.id and {due_b}
returning b.id
"""


def _reminder_due(at: str, mark: str, alias: str = "") -> str:
    a = alias
    return (
        f"{is_status(Status.confirmed, a)} and {a}{at} > :now and {a}{at} <= :until"
        f" and {a}{mark} is distinct from {a}{at}"
    )


async def _remind(
    session: AsyncSession, at: str, mark: str, lead: timedelta, now: datetime, batch: int
) -> list[uuid.UUID]:
    statement = _REMIND.format(
        due=_reminder_due(at, mark), due_b=_reminder_due(at, mark, "b."), mark=mark, at=at
    )
    params = {"now": now, "until": now + lead, "batch": batch}
    return list((await session.execute(text(statement), params)).scalars())


async def starts_soon_due(
    session: AsyncSession, now: datetime, lead: timedelta, *, batch: int = 1000
) -> list[uuid.UUID]:
    """Marks the confirmed bookings that start within `lead` of `now` and have had no reminder
    for that start, returning their ids."""
    return await _remind(session, "start_at", "starts_soon_for", lead, now, batch)


async def ends_soon_due(
    session: AsyncSession, now: datetime, lead: timedelta, *, batch: int = 1000
) -> list[uuid.UUID]:
    """The same for the end: once per end, so again after an extension."""
    return await _remind(session, "end_at", "ends_soon_for", lead, now, batch)


def visible_to(user: User) -> Select[Booking]:
    """The bookings `user` made or that are of their spots."""
    return (
        select(Booking)
        .join(Spot, col(Spot.id) == Booking.spot_id)
        .where(or_(col(Booking.driver_id) == user.id, col(Spot.owner_id) == user.id))
    )


async def events_of(session: AsyncSession, bookings: list[Booking]) -> dict[uuid.UUID, list[BookingEvent]]:
    """The events of several bookings in one query, each list in time order."""
    out: dict[uuid.UUID, list[BookingEvent]] = {b.id: [] for b in bookings}
    if not bookings:
        return out
    rows = await session.scalars(
        select(BookingEvent)
        .where(col(BookingEvent.booking_id).in_(list(out)))
        .order_by(col(BookingEvent.at), col(BookingEvent.id))
    )
    for event in rows:
        out[event.booking_id].append(event)
    return out


def mine(
    user: User,
    *,
    role: str,
    statuses: list[Status] | None,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> Select[Booking]:
    """A user's bookings as driver or as owner, by status as of `now`: a hold past its deadline
    is found as expired (see `service.as_of`)."""
    query = select(Booking)
    if role == "driver":
        query = query.where(col(Booking.driver_id) == user.id)
    else:
        query = query.join(Spot, col(Spot.id) == Booking.spot_id).where(col(Spot.owner_id) == user.id)
    if statuses:
        query = query.where(or_(*(_has_status(s, now) for s in set(statuses))))
    if start is not None:
        query = query.where(col(Booking.end_at) > start)
    if end is not None:
        query = query.where(col(Booking.start_at) < end)
    return query


def _has_status(status: Status, now: datetime) -> ColumnElement[bool]:
    status_ = col(Booking.status)
    held_past = and_(status_ == Status.held, col(Booking.hold_expires_at) <= now)
    requested_past = and_(status_ == Status.requested, col(Booking.request_expires_at) <= now)
    if status is Status.expired:
        return or_(status_ == Status.expired, held_past, requested_past)
    if status in (Status.held, Status.requested):
        return and_(status_ == status, not_(held_past if status is Status.held else requested_past))
    return status_ == status


async def upcoming_active(session: AsyncSession, spot_id: uuid.UUID, now: datetime) -> list[Booking]:
    """The spot's active bookings that have not ended, locked."""
    rows = await session.scalars(
        select(Booking)
        .where(
            col(Booking.spot_id) == spot_id,
            col(Booking.status).in_([s for s in Status if s in ACTIVE]),
            col(Booking.end_at) > now,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(rows.all())
