"""Commuter series: a weekly pattern booked as ordinary bookings in one transaction
(docs/api.md, "Series"; docs/bookings.md).

A series goes the single booking's way (`service.create`) once for all its occurrences: the spot
locked once, its calendar read once over the whole series, every occurrence checked by the engine
against it and against the occurrences before it (`booking.series.check_all`), then all of them
inserted with their history and their events in one pipelined statement, the exclusion constraint
still the last word. Confirm and cancel lock the series row and then its bookings, the same order
as single status changes (spot, then booking), and apply the single booking's transition to each.

Everything here only flushes; the request's transaction commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.availability.calendar import read_calendar
from app.bookings import notices, service
from app.bookings.errors import HOLD_EXPIRED, HoldExpired, InvalidTransition, SeriesConflict, refusal_members
from app.bookings.models import Booking, BookingSeries
from app.bookings.queries import SpotTerms
from app.bookings.series_schemas import (
    OccurrenceOut,
    OccurrenceQuote,
    SeriesOut,
    SeriesQuoteOut,
    SeriesRequest,
)
from app.errors import Forbidden, NotFound, ValidationProblem
from app.schemas import parse_id
from app.settings import Settings
from app.spots.models import Spot
from app.users.models import User
from booking import Interval, Refusal
from booking.intervals import format_instant
from booking.pricing import price
from booking.series import Pattern, SeriesProblem, check_all, expand, series_status
from booking.states import ACTIVE, Action, Actor, Status
from booking.weekly import WEEKDAYS, format_clock

_PROBLEMS = {
    SeriesProblem.until_before_from: ("until", "must not be before `from`"),
    SeriesProblem.series_too_long: ("until", "a series spans at most 92 dates, `from` and `until` included"),
    SeriesProblem.series_too_many_occurrences: ("weekdays", "a series has at most 100 occurrences"),
    SeriesProblem.series_empty: ("weekdays", "no date from `from` to `until` falls on these weekdays"),
}


def _refused(problems: Sequence[SeriesProblem], *, message: str | None = None) -> ValidationProblem:
    errors = [
        {"loc": ["body", field], "field": field, "message": message or text, "type": problem.value}
        for problem in problems
        for field, text in [_PROBLEMS[problem]]
    ]
    return ValidationProblem("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)


def pattern_of(data: SeriesRequest) -> Pattern:
    """The request's pattern; 422 `validation_error` for one that breaks a limit, each limit an
    entry of `errors` whose `type` names it. No I/O: checked before the spot is locked."""
    pattern = Pattern.parse(data.weekdays, data.start_time, data.end_time, data.from_, data.until)
    problems = pattern.problems()
    if problems:
        raise _refused(problems)
    return pattern


def _occurrences(pattern: Pattern, spot: SpotTerms) -> list[Interval]:
    occurrences = expand(pattern, spot.policy.timezone)
    if not occurrences:
        raise _refused(
            [SeriesProblem.series_empty],
            message="every occurrence falls wholly into a gap of the spot's clock change",
        )
    return occurrences


def _bounds(occurrences: Sequence[Interval]) -> Interval:
    return Interval(occurrences[0].start, occurrences[-1].end)


def _refusal_entry(index: int, occurrence: Interval, refusal: Refusal) -> dict[str, Any]:
    """One occurrence that cannot be booked, as an entry of the problem's `errors`: located like
    a field problem (`occurrences.<index>`, by time order) and carrying the occurrence and its
    `reason_code` (with an invalid interval's `reason` and `limit`)."""
    code = service.reason_name(refusal.code)
    return {
        "loc": ["body", "occurrences", str(index)],
        "field": f"occurrences.{index}",
        "message": refusal.detail,
        "type": code,
        "start": format_instant(occurrence.start),
        "end": format_instant(occurrence.end),
        "reason_code": code,
        **refusal_members(refusal),
    }


# --- quote ---------------------------------------------------------------------------------------


async def quote(session: AsyncSession, user: User, data: SeriesRequest, now: datetime) -> SeriesQuoteOut:
    """What booking the series would answer, occurrence by occurrence, without booking or
    locking: the reasons in the order `create` checks them."""
    pattern = pattern_of(data)
    conn, spot = await service.spot_for(session, parse_id(data.spot_id, "spot"), lock=False)
    early = await service.early_reason(session, user, data.vehicle_id, spot)
    occurrences = _occurrences(pattern, spot)
    refusals: list[Refusal | None]
    if early is None:
        calendar, _ = await read_calendar(conn, spot.id, spot.policy, _bounds(occurrences), now=now)
        refusals = check_all(calendar, occurrences, now)
    else:
        # As a single quote: the rules still say which occurrences are invalid (and unpriced).
        refusals = [spot.policy.check_interval(o.start, o.end, now) for o in occurrences]
    quoted = []
    for occurrence, refusal in zip(occurrences, refusals, strict=True):
        reason = early or (service.reason_name(refusal.code) if refusal else None)
        invalid = refusal is not None and refusal.reason is not None
        quoted.append(
            OccurrenceQuote(
                start=occurrence.start,
                end=occurrence.end,
                bookable=reason is None,
                reason_code=reason,
                **(refusal_members(refusal) if refusal else {}),
                total_cents=0 if invalid else price(occurrence, spot.tariff).total_cents,
            )
        )
    bookable = [q for q in quoted if q.bookable]
    return SeriesQuoteOut(
        spot_id=spot.id,
        bookable=len(bookable) == len(quoted) if data.on_conflict == "fail" else bool(bookable),
        occurrences=quoted,
        total_cents=sum(q.total_cents for q in bookable),
        currency=spot.tariff.currency,
        cancellation_policy=spot.cancellation_policy.value,
    )


# --- create --------------------------------------------------------------------------------------


async def create(
    session: AsyncSession, settings: Settings, user: User, data: SeriesRequest, now: datetime
) -> SeriesOut:
    pattern = pattern_of(data)
    conn, spot = await service.spot_for(session, parse_id(data.spot_id, "spot"))
    vehicle = await service.driver_vehicle(session, user, data.vehicle_id, spot)
    occurrences = _occurrences(pattern, spot)
    calendar = await service.calendar_for_write(session, conn, spot, _bounds(occurrences), now)
    refusals = check_all(calendar, occurrences, now)
    refused = [
        _refusal_entry(i, occurrence, refusal)
        for i, (occurrence, refusal) in enumerate(zip(occurrences, refusals, strict=True))
        if refusal is not None
    ]
    if refused and (data.on_conflict == "fail" or len(refused) == len(occurrences)):
        what = "cannot be booked" if data.on_conflict == "fail" else "cannot be booked: none is left to book"
        raise SeriesConflict(f"{len(refused)} of {len(occurrences)} occurrences {what}", errors=refused)
    series = BookingSeries(
        id=uuid.uuid4(),
        spot_id=spot.id,
        driver_id=user.id,
        vehicle_id=vehicle.id if vehicle else None,
        weekdays=sorted(pattern.weekdays),
        start_minute=pattern.start_minute,
        end_minute=pattern.end_minute,
        from_date=pattern.first,
        until_date=pattern.last,
        on_conflict=data.on_conflict,
        currency=spot.tariff.currency,
        skipped=[
            {k: v for k, v in entry.items() if k in ("start", "end", "reason_code", "reason", "limit")}
            for entry in refused
        ],
        created_at=now,
    )
    session.add(series)
    # The series row first: the occurrences' foreign key points to it.
    await session.flush()
    prepared = [
        await service.prepare(session, settings, spot, user, vehicle, occurrence, now, series_id=series.id)
        for occurrence, refusal in zip(occurrences, refusals, strict=True)
        if refusal is None
    ]
    await service.insert(session, conn, prepared)
    return _out(series, [p.booking for p in prepared], spot.policy.timezone.key, now)


# --- reading -------------------------------------------------------------------------------------


class Access(NamedTuple):
    series: BookingSeries
    actor: Actor  # the driver, or the spot's owner
    timezone: str


async def get(session: AsyncSession, user: User, series_id: str, *, for_update: bool = False) -> Access:
    """A series its driver or its spot's owner may see (as a booking); anyone else is told it
    does not exist."""
    query = (
        select(BookingSeries, col(Spot.timezone))
        .join(Spot, col(Spot.id) == BookingSeries.spot_id)
        .where(
            col(BookingSeries.id) == parse_id(series_id, "series"),
            or_(col(BookingSeries.driver_id) == user.id, col(Spot.owner_id) == user.id),
        )
    )
    if for_update:
        query = query.with_for_update(of=BookingSeries).execution_options(populate_existing=True)
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound("no such series")
    series, timezone = row
    return Access(series, Actor.driver if series.driver_id == user.id else Actor.owner, timezone)


async def _bookings(
    session: AsyncSession, series: BookingSeries, *, for_update: bool = False
) -> list[Booking]:
    query = (
        select(Booking)
        .where(col(Booking.series_id) == series.id)
        .order_by(col(Booking.start_at), col(Booking.id))
        .execution_options(populate_existing=True)
    )
    if for_update:
        query = query.with_for_update()
    return list((await session.scalars(query)).all())


def _as_of(booking: Booking, now: datetime) -> Status:
    """The booking's status as reads show it (`service.as_of`): a hold or request past its
    deadline is expired."""
    passed = service.deadline_passed(booking.status, booking.hold_expires_at, booking.request_expires_at, now)
    return Status.expired if passed is not None else Status(booking.status)


def _out(series: BookingSeries, bookings: Sequence[Booking], timezone: str, now: datetime) -> SeriesOut:
    statuses = [_as_of(b, now) for b in bookings]
    booked = [
        OccurrenceOut(
            start=b.start_at, end=b.end_at, booking_id=b.id, status=status.value, skipped_reason=None
        )
        for b, status in zip(bookings, statuses, strict=True)
    ]
    skipped = [
        OccurrenceOut.model_validate(
            {"booking_id": None, "status": None, "skipped_reason": entry["reason_code"], **entry}
        )
        for entry in series.skipped
    ]
    return SeriesOut.model_validate(
        {
            "id": series.id,
            "spot_id": series.spot_id,
            "driver_id": series.driver_id,
            "vehicle_id": series.vehicle_id,
            "status": series_status(statuses).value,
            "weekdays": [WEEKDAYS[d] for d in sorted(series.weekdays)],
            "start_time": format_clock(series.start_minute),
            "end_time": format_clock(series.end_minute),
            "from": series.from_date,
            "until": series.until_date,
            "timezone": timezone,
            "on_conflict": series.on_conflict,
            "occurrences": sorted([*booked, *skipped], key=lambda o: o.start),
            "total_cents": sum(b.total_cents for b in bookings),
            "refund_cents": sum(b.refund_cents or 0 for b in bookings),
            "currency": series.currency,
            "created_at": series.created_at,
            "cancelled_at": series.cancelled_at,
        }
    )


async def read(session: AsyncSession, user: User, series_id: str, now: datetime) -> SeriesOut:
    series, _, timezone = await get(session, user, series_id)
    return _out(series, await _bookings(session, series), timezone, now)


async def series_of_driver(session: AsyncSession, driver: User, now: datetime) -> list[SeriesOut]:
    """Every series the account booked as driver, oldest first (the export)."""
    rows = await session.execute(
        select(BookingSeries, col(Spot.timezone))
        .join(Spot, col(Spot.id) == BookingSeries.spot_id)
        .where(col(BookingSeries.driver_id) == driver.id)
        .order_by(col(BookingSeries.created_at), col(BookingSeries.id))
    )
    return [_out(series, await _bookings(session, series), timezone, now) for series, timezone in rows.all()]


# --- confirm and cancel --------------------------------------------------------------------------


async def _locked(
    session: AsyncSession, user: User, series_id: str, now: datetime
) -> tuple[Access, list[Booking]]:
    """The series and its bookings, locked in that order, with the spot's holds and requests past
    their deadline marked expired first (as a single booking's change would)."""
    access = await get(session, user, series_id, for_update=True)
    await service.expire_due(session, now, spot_id=access.series.spot_id)
    return access, await _bookings(session, access.series, for_update=True)


async def confirm(session: AsyncSession, user: User, series_id: str, now: datetime) -> SeriesOut:
    """The driver confirms (pays for) every held occurrence; the spot's owner approves every
    requested one. Occurrences cancelled alone, declined or expired stay as they are."""
    (series, actor, timezone), bookings = await _locked(session, user, series_id, now)
    action, pending = (
        (Action.confirm, Status.held) if actor is Actor.driver else (Action.approve, Status.requested)
    )
    due = [b for b in bookings if b.status == pending]
    if not due:
        other = Status.requested if actor is Actor.driver else Status.held
        if any(b.status == other for b in bookings):
            raise Forbidden(
                "the spot's owner approves a requested series"
                if actor is Actor.driver
                else "the driver confirms a held series"
            )
        if actor is Actor.driver and any(
            b.status == Status.expired and b.hold_expires_at is not None for b in bookings
        ):
            # Marked expired on the way (`_locked`): that write survives the 409.
            raise HoldExpired(HOLD_EXPIRED)
        raise InvalidTransition(f"no occurrence of the series is {pending.value}")
    for booking in due:
        await service.apply(session, booking, action, actor, user, now)
    await notices.emit(session, due, f"booking.{Status.confirmed.value}", now)
    return _out(series, bookings, timezone, now)


async def cancel(
    session: AsyncSession, user: User, series_id: str, now: datetime, *, reason: str | None = None
) -> SeriesOut:
    """Cancels the occurrences that have not started, each under the spot's policy (an owner's
    cancellation refunds in full); those under way or over stay."""
    (series, actor, timezone), bookings = await _locked(session, user, series_id, now)
    # A driver who checked in early (from 15 minutes before the start) is parked: that occurrence
    # stays, as one under way does.
    ahead = [b for b in bookings if b.status in ACTIVE and b.start_at > now and not service.parked(b)]
    if not ahead:
        raise InvalidTransition("no occurrence of the series is ahead and active")
    for booking in ahead:
        await service.apply(session, booking, Action.cancel, actor, user, now, reason=reason)
    if series.cancelled_at is None:
        series.cancelled_at = now
    await notices.emit(session, ahead, f"booking.{Status.cancelled.value}", now)
    return _out(series, bookings, timezone, now)
