from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from app import openapi
from app.bookings import service, visits
from app.bookings.errors import refusal_members
from app.bookings.idempotency import idempotent
from app.bookings.schemas import (
    BookingCreate,
    BookingOut,
    BreakdownLine,
    CancellationOut,
    CancelRequest,
    ExtendRequest,
    QuoteOut,
    QuoteRequest,
    RefundStepOut,
)
from app.bookings.views import booking_out, booking_outs
from app.clock import Now
from app.db import DbSession
from app.errors import ValidationProblem
from app.openapi import answer, problems, request_example
from app.pagination import PageParams, page_params
from app.schemas import Instant, Page
from app.settings import Settings
from app.users.dependencies import CurrentUser
from booking.states import Action, Status

router = APIRouter(tags=["bookings"])

# Every booking-changing POST: the Idempotency-Key problems, the per-user limit on booking writes,
# and the booking's own.
KEY_ERRORS = ("idempotency_in_progress", "idempotency_key_reused", "rate_limited")
CHANGE_ERRORS = problems("forbidden", "not_found", "invalid_transition", *KEY_ERRORS)
CHANGED = openapi.merge(answer(200, openapi.CONFIRMED_BOOKING), CHANGE_ERRORS)


async def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(settings_of)]


@router.post(
    "/v1/quotes",
    response_model=QuoteOut,
    operation_id="createQuote",
    responses=openapi.merge(answer(200, openapi.QUOTE), problems("not_found")),
    openapi_extra=request_example(openapi.QUOTE_REQUEST),
    summary="Price and bookability of an interval",
    description="Refuses what booking would refuse, with `bookable: false` and `reason_code`; an "
    "`invalid_interval` also carries `reason` and `limit` and is not priced: `total_cents` 0, no "
    "breakdown, no refunds.",
)
async def create_quote(body: QuoteRequest, user: CurrentUser, session: DbSession, now: Now) -> QuoteOut:
    result = await service.quote(
        session, user, body.spot_id, body.start, body.end, now, vehicle_id=body.vehicle_id
    )
    amount = result.amount
    return QuoteOut(
        bookable=result.reason_code is None,
        reason_code=result.reason_code,
        **(refusal_members(result.refusal) if result.refusal else {}),
        total_cents=amount.total_cents,
        currency=amount.currency,
        breakdown=[
            BreakdownLine(label=line.label, amount_cents=line.amount_cents) for line in amount.breakdown
        ],
        cancellation=CancellationOut(
            policy=result.policy,
            refunds=[RefundStepOut(until=s.until, refund_cents=s.refund_cents) for s in result.refunds],
        ),
    )


@router.post(
    "/v1/bookings",
    status_code=201,
    response_model=BookingOut,
    operation_id="createBooking",
    responses=openapi.merge(
        answer(201, openapi.BOOKING),
        problems(
            "not_found",
            "slot_unavailable",
            "own_spot",
            "invalid_interval",
            "outside_availability",
            "vehicle_does_not_fit",
            *KEY_ERRORS,
        ),
        openapi.SLOT_TAKEN,
        openapi.TOO_LONG,
    ),
    openapi_extra=request_example(openapi.BOOKING_CREATE),
    summary="Book a spot",
    description="Instant-book spots answer `held` with `hold_expires_at`: confirm before then. "
    "Request-to-book spots answer `requested` with `request_expires_at`: the owner approves or declines. "
    "Booking writes (this route, confirm, approve, decline, cancel, extend) are limited per user to "
    "`BOOKING_WRITES_PER_USER` per `BOOKING_WRITE_WINDOW_SECONDS`, refused ones included: 429 "
    "`rate_limited` with `Retry-After`.",
)
@idempotent(201)
async def create_booking(
    body: BookingCreate, user: CurrentUser, session: DbSession, settings: SettingsDep, now: Now
) -> BookingOut:
    return (await service.create(session, settings, user, body, now)).answer


@router.post(
    "/v1/bookings/{booking_id}/confirm",
    response_model=BookingOut,
    operation_id="confirmBooking",
    responses=openapi.merge(CHANGED, problems("hold_expired")),
    summary="Confirm a held booking (driver; the payment step)",
    description="After `hold_expires_at` the hold is gone: 409 `hold_expired`.",
)
@idempotent(200)
async def confirm_booking(booking_id: str, user: CurrentUser, session: DbSession, now: Now) -> BookingOut:
    booking = await service.change(session, user, booking_id, Action.confirm, now)
    return await booking_out(session, booking, user, now)


@router.post(
    "/v1/bookings/{booking_id}/approve",
    response_model=BookingOut,
    operation_id="approveBooking",
    responses=CHANGED,
    summary="Approve a requested booking (owner)",
)
@idempotent(200)
async def approve_booking(booking_id: str, user: CurrentUser, session: DbSession, now: Now) -> BookingOut:
    booking = await service.change(session, user, booking_id, Action.approve, now)
    return await booking_out(session, booking, user, now)


@router.post(
    "/v1/bookings/{booking_id}/decline",
    response_model=BookingOut,
    operation_id="declineBooking",
    responses=CHANGED,
    summary="Decline a requested booking (owner)",
)
@idempotent(200)
async def decline_booking(booking_id: str, user: CurrentUser, session: DbSession, now: Now) -> BookingOut:
    booking = await service.change(session, user, booking_id, Action.decline, now)
    return await booking_out(session, booking, user, now)


@router.post(
    "/v1/bookings/{booking_id}/cancel",
    response_model=BookingOut,
    operation_id="cancelBooking",
    responses=CHANGED,
    summary="Cancel a booking (driver or owner)",
    description="`refund_cents` follows the spot's cancellation policy for a confirmed booking; an owner's "
    "cancellation refunds in full; a held or requested booking was not paid and refunds 0.",
)
# No body and an empty one are the same request.
@idempotent(200, no_body=CancelRequest())
async def cancel_booking(
    booking_id: str, user: CurrentUser, session: DbSession, now: Now, body: CancelRequest | None = None
) -> BookingOut:
    reason = body.reason if body is not None else None
    booking = await service.change(session, user, booking_id, Action.cancel, now, reason=reason)
    return await booking_out(session, booking, user, now)


@router.post(
    "/v1/bookings/{booking_id}/extend",
    response_model=BookingOut,
    operation_id="extendBooking",
    responses=openapi.merge(
        CHANGED, problems("slot_unavailable", "invalid_interval", "outside_availability")
    ),
    summary="Extend a confirmed booking (driver)",
)
@idempotent(200)
async def extend_booking(
    booking_id: str, body: ExtendRequest, user: CurrentUser, session: DbSession, now: Now
) -> BookingOut:
    booking = await service.extend(session, user, booking_id, body.end, now)
    return await booking_out(session, booking, user, now)


@router.get(
    "/v1/bookings/{booking_id}",
    response_model=BookingOut,
    operation_id="getBooking",
    responses=openapi.merge(answer(200, openapi.CONFIRMED_BOOKING), problems("not_found")),
    summary="A booking (its driver or the spot's owner)",
)
async def get_booking(booking_id: str, user: CurrentUser, session: DbSession, now: Now) -> BookingOut:
    booking, _ = await service.get(session, user, booking_id)
    return service.as_of(await booking_out(session, booking, user, now), now)


def _statuses(values: list[str] | None) -> list[Status] | None:
    if not values:
        return None
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    if len(names) > len(Status):
        raise ValidationProblem.field("status", f"at most {len(Status)} statuses", "too_long", where="query")
    try:
        return [Status(name) for name in names]
    except ValueError:
        raise ValidationProblem.field(
            "status", f"one of {', '.join(s.value for s in Status)}", "enum", where="query"
        ) from None


@router.get(
    "/v1/me/bookings",
    response_model=Page[BookingOut],
    operation_id="listMyBookings",
    summary="My bookings, as driver or as owner, by start time",
    tags=["me"],
)
async def my_bookings(
    user: CurrentUser,
    session: DbSession,
    now: Now,
    page: Annotated[PageParams, Depends(page_params)],
    role: Annotated[
        Literal["driver", "owner"], Query(description="driver: bookings I made; owner: bookings of my spots")
    ] = "driver",
    status: Annotated[
        list[str] | None,
        Query(
            description="held, requested, confirmed, declined, expired, cancelled, completed, "
            "overstayed, no_show; repeat or comma-separate"
        ),
    ] = None,
    from_: Annotated[Instant | None, Query(alias="from", description="Bookings ending after this")] = None,
    to: Annotated[Instant | None, Query(description="Bookings starting before this")] = None,
) -> Page[BookingOut]:
    bookings, next_cursor = await service.list_mine(
        session, user, role=role, statuses=_statuses(status), start=from_, end=to, page=page, now=now
    )
    items = [service.as_of(out, now) for out in await booking_outs(session, bookings, user, now)]
    return Page[BookingOut](items=items, next_cursor=next_cursor)


# At the spot (docs/api.md): the driver's arrival and departure.
VISIT_ERRORS = problems("forbidden", "not_found", "invalid_transition", *KEY_ERRORS)


@router.post(
    "/v1/bookings/{booking_id}/check-in",
    response_model=BookingOut,
    operation_id="checkInBooking",
    responses=openapi.merge(answer(200, openapi.CHECKED_IN_BOOKING), VISIT_ERRORS),
    summary="Check in at the spot (driver of a confirmed booking)",
    description="Records `checked_in_at`, from 15 minutes before the start until the end; earlier or "
    "later, or for a booking that is not `confirmed`, 409 `invalid_transition`. Checking in again "
    "answers the booking unchanged. The spot's owner gets 403 `forbidden`, anyone else 404. On a spot "
    "with `rules.check_in_required`, a booking without a check-in `rules.no_show_after_min` after its "
    "start becomes `no_show`; a check-in before the scheduler has marked it still counts.",
)
@idempotent(200)
async def check_in_booking(booking_id: str, user: CurrentUser, session: DbSession, now: Now) -> BookingOut:
    booking = await visits.check_in(session, user, booking_id, now)
    return await booking_out(session, booking, user, now)


@router.post(
    "/v1/bookings/{booking_id}/check-out",
    response_model=BookingOut,
    operation_id="checkOutBooking",
    responses=openapi.merge(answer(200, openapi.CHECKED_OUT_BOOKING), VISIT_ERRORS),
    summary="Check out of the spot (driver who checked in)",
    description="Records `checked_out_at`. Before the end the booking stays `confirmed` (paid until "
    "its end; the scheduler completes it then). From the end on it is `completed`, with "
    "`overstay_cents` for leaving after `end` plus the spot's `rules.grace_min`: counted from the end, "
    "per started granularity unit at `rules.overstay_hourly_cents`, at most 24 hours; within the grace "
    "0. An `overstayed` booking is checked out the same way. A booking that was not checked in, or is "
    "not `confirmed` or `overstayed`, is 409 `invalid_transition`; checking out again answers the "
    "booking unchanged. The spot's owner gets 403 `forbidden`, anyone else 404.",
)
@idempotent(200)
async def check_out_booking(booking_id: str, user: CurrentUser, session: DbSession, now: Now) -> BookingOut:
    booking = await visits.check_out(session, user, booking_id, now)
    return await booking_out(session, booking, user, now)
