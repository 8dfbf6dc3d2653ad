"""The routes of commuter series (docs/api.md, "Series"): a quote, booking, reading, confirming
and cancelling a weekly pattern of bookings. The decisions are in `series.py`."""

from __future__ import annotations

from fastapi import APIRouter

from app import openapi
from app.bookings import series
from app.bookings.idempotency import idempotent
from app.bookings.router import KEY_ERRORS, SettingsDep
from app.bookings.series_schemas import SeriesCancelRequest, SeriesOut, SeriesQuoteOut, SeriesRequest
from app.clock import Now
from app.db import DbSession
from app.openapi import answer, problems, request_example
from app.users.dependencies import CurrentUser

router = APIRouter(tags=["bookings"])

PATTERN = (
    "The pattern is read in the spot's local time, as its availability rules are: one occurrence "
    "on each local date from `from` to `until` (both included) whose weekday is listed, from "
    "`start_time` to `end_time`, or to `end_time` the next day when that is 24:00 or not after "
    "`start_time` (overnight). 08:00-18:00 stays 08:00-18:00 local in the weeks the clocks change. "
    "A time the clocks skip (Europe/Berlin: 02:00-02:59 on the last Sunday of March) is read as "
    "the end of the gap, 03:00; an occurrence wholly inside the gap does not exist; a time that "
    "happens twice (the last Sunday of October) is its first, summer-time occurrence. At most 92 "
    "dates and 100 occurrences: more is a 422 `validation_error` whose `errors[].type` is "
    "`series_too_long` or `series_too_many_occurrences` (`series_empty` when no date falls on the "
    "weekdays, `until_before_from`)."
)
CHANGE_ERRORS = problems("not_found", "forbidden", "invalid_transition", *KEY_ERRORS)


@router.post(
    "/v1/quotes/series",
    response_model=SeriesQuoteOut,
    operation_id="createSeriesQuote",
    responses=openapi.merge(
        answer(200, openapi.SERIES_QUOTE), problems("not_found"), openapi.SERIES_TOO_LONG
    ),
    openapi_extra=request_example(openapi.SERIES_REQUEST),
    summary="Price and bookability of a series, occurrence by occurrence",
    description="Books nothing and takes no `Idempotency-Key`. Each occurrence says whether it is "
    "bookable, and why not as a quote does (`reason_code`, and `reason` and `limit` for an invalid "
    "interval, which is priced 0). `bookable` says whether booking with the body's `on_conflict` "
    "would succeed; `total_cents` is what it would cost (the bookable occurrences). " + PATTERN,
)
async def create_series_quote(
    body: SeriesRequest, user: CurrentUser, session: DbSession, now: Now
) -> SeriesQuoteOut:
    return await series.quote(session, user, body, now)


@router.post(
    "/v1/booking-series",
    status_code=201,
    response_model=SeriesOut,
    operation_id="createBookingSeries",
    responses=openapi.merge(
        answer(201, openapi.SERIES),
        problems("not_found", "series_conflict", "own_spot", "vehicle_does_not_fit", *KEY_ERRORS),
        openapi.SERIES_CONFLICT,
        openapi.SERIES_TOO_LONG,
    ),
    openapi_extra=request_example(openapi.SERIES_REQUEST),
    summary="Book a weekly series of a spot (commuters)",
    description="Books every occurrence in one transaction, each an ordinary booking with "
    "`series_id`: `held` on instant-book spots (confirm the series before `hold_expires_at`), "
    "`requested` on the others (the owner approves). `on_conflict: fail` books all or nothing: "
    "409 `series_conflict` whose `errors` name each occurrence that cannot be booked (`start`, "
    "`end`, `reason_code`, and `reason` and `limit` for an invalid interval). `skip` books the "
    "others and lists the rest with `skipped_reason`; when none can be booked it is the same 409. "
    "The whole series is refused, as a single booking is, for the caller's own spot (409 "
    "`own_spot`) and a vehicle that does not fit (422). " + PATTERN,
)
@idempotent(201)
async def create_booking_series(
    body: SeriesRequest, user: CurrentUser, session: DbSession, settings: SettingsDep, now: Now
) -> SeriesOut:
    return await series.create(session, settings, user, body, now)


@router.get(
    "/v1/booking-series/{series_id}",
    response_model=SeriesOut,
    operation_id="getBookingSeries",
    responses=openapi.merge(answer(200, openapi.SERIES), problems("not_found")),
    summary="A series (its driver or the spot's owner)",
    description="Anyone else gets 404, as for a booking. Each occurrence's `status` is its "
    "booking's as it stands now; the series' `status` is derived from them.",
)
async def get_booking_series(series_id: str, user: CurrentUser, session: DbSession, now: Now) -> SeriesOut:
    return await series.read(session, user, series_id, now)


@router.post(
    "/v1/booking-series/{series_id}/confirm",
    response_model=SeriesOut,
    operation_id="confirmBookingSeries",
    responses=openapi.merge(answer(200, openapi.CONFIRMED_SERIES), CHANGE_ERRORS, problems("hold_expired")),
    summary="Confirm a series (the driver pays for its held occurrences; the owner approves its requested ones)",
    description="The driver confirms every `held` occurrence at once; on a request-to-book spot "
    "the spot's owner approves every `requested` one. Occurrences cancelled alone, declined or "
    "expired stay so. After `hold_expires_at` the holds are gone: 409 `hold_expired`. With nothing "
    "left to confirm: 409 `invalid_transition`; the other party's step: 403 `forbidden`.",
)
@idempotent(200)
async def confirm_booking_series(
    series_id: str, user: CurrentUser, session: DbSession, now: Now
) -> SeriesOut:
    return await series.confirm(session, user, series_id, now)


@router.post(
    "/v1/booking-series/{series_id}/cancel",
    response_model=SeriesOut,
    operation_id="cancelBookingSeries",
    responses=openapi.merge(answer(200, openapi.SERIES), CHANGE_ERRORS),
    summary="Cancel a series' occurrences that have not started (driver or owner)",
    description="Each active occurrence starting after now is cancelled like a single booking: "
    "`refund_cents` by the spot's policy for a confirmed one, in full when the owner cancels, 0 for "
    "a hold or request. Occurrences under way or over stay. None left ahead: 409 "
    "`invalid_transition`.",
)
# No body and an empty one are the same request.
@idempotent(200, no_body=SeriesCancelRequest())
async def cancel_booking_series(
    series_id: str,
    user: CurrentUser,
    session: DbSession,
    now: Now,
    body: SeriesCancelRequest | None = None,
) -> SeriesOut:
    reason = body.reason if body is not None else None
    return await series.cancel(session, user, series_id, now, reason=reason)
