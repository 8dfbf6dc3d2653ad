from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status

from app import openapi
from app.availability import service
from app.availability.materialize import interval_of
from app.availability.models import AvailabilityBlackout, AvailabilityRule, AvailabilityWindow
from app.availability.schemas import (
    AvailabilityOut,
    BlackoutCreate,
    BlackoutOut,
    FreeInterval,
    RuleCreate,
    RuleOut,
    WindowCreate,
    WindowOut,
)
from app.clock import Now
from app.db import DbSession
from app.openapi import problems
from app.pagination import PageParams, page_params
from app.replica import ReadSession
from app.schemas import Instant, Page, parse_id
from app.spots.dependencies import LockedOwnedSpot, OwnedSpot, PublicSpot
from booking.weekly import WEEKDAYS, format_clock

router = APIRouter(prefix="/v1/spots/{spot_id}/availability", tags=["availability"])
OWNER_ERRORS = problems("forbidden", "not_found")
Paging = Annotated[PageParams, Depends(page_params)]


def rule_out(rule: AvailabilityRule) -> RuleOut:
    return RuleOut.model_validate(
        {
            "id": rule.id,
            "weekdays": [WEEKDAYS[d] for d in sorted(rule.weekdays)],
            "start_time": format_clock(rule.start_minute),
            "end_time": format_clock(rule.end_minute),
            "valid_from": rule.valid_from,
            "valid_until": rule.valid_until,
            "created_at": rule.created_at,
        }
    )


def span_out(row: Any) -> dict[str, Any]:
    interval = interval_of(row.during)
    out = {"id": row.id, "start": interval.start, "end": interval.end, "created_at": row.created_at}
    if isinstance(row, AvailabilityBlackout):
        out["reason"] = row.reason
    return out


@router.get(
    "",
    response_model=AvailabilityOut,
    operation_id="getAvailability",
    responses=openapi.merge(openapi.answer(200, openapi.AVAILABILITY), problems("not_found")),
    openapi_extra=openapi.PUBLIC,
    summary="Free intervals of a spot",
    description="The maximal intervals in which a booking could start and end, after rules, windows, "
    "blackouts, bookings with their buffer, lead time and horizon; boundaries lie on the spot's "
    "granularity and every interval is at least the minimum duration. At most 31 days at once. "
    "Remember to URL-encode `+` in offsets (`%2B01:00`), or use `Z`." + openapi.FROM_REPLICA,
)
async def get_availability(
    spot: PublicSpot,
    session: ReadSession,
    from_: Annotated[Instant, Query(alias="from", description="RFC 3339 with offset")],
    to: Annotated[Instant, Query(description="RFC 3339 with offset; at most 31 days after from")],
    now: Now,
) -> AvailabilityOut:
    free = await service.free(session, spot, from_, to, now)
    return AvailabilityOut(
        spot_id=spot.id,
        timezone=spot.timezone,
        free=[FreeInterval(start=i.start, end=i.end) for i in free],
    )


@router.post(
    "/rules",
    status_code=status.HTTP_201_CREATED,
    response_model=RuleOut,
    operation_id="createAvailabilityRule",
    responses=openapi.merge(openapi.answer(201, openapi.RULE), OWNER_ERRORS),
    openapi_extra=openapi.request_example(openapi.RULE_CREATE),
    summary="Add a weekly rule",
)
async def add_rule(body: RuleCreate, spot: LockedOwnedSpot, session: DbSession, now: Now) -> RuleOut:
    return rule_out(await service.add_rule(session, spot, body, now))


@router.get(
    "/rules",
    response_model=Page[RuleOut],
    operation_id="listAvailabilityRules",
    responses=OWNER_ERRORS,
    summary="Weekly rules (owner)",
)
async def list_rules(spot: OwnedSpot, session: DbSession, page: Paging) -> Page[RuleOut]:
    rows, next_cursor = await service.list_items(session, spot, AvailabilityRule, page)
    return Page[RuleOut](items=[rule_out(r) for r in rows], next_cursor=next_cursor)


@router.delete(
    "/rules/{item_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    operation_id="deleteAvailabilityRule",
    responses=OWNER_ERRORS,
    summary="Delete a weekly rule",
)
async def delete_rule(item_id: str, spot: LockedOwnedSpot, session: DbSession, now: Now) -> Response:
    await service.remove_item(session, spot, AvailabilityRule, parse_id(item_id, "rule"), "rule", now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# One-off windows and blackouts are both stored ranges of a spot: the same three routes on two
# tables, through the same service functions.


def _window_out(row: AvailabilityWindow) -> WindowOut:
    return WindowOut.model_validate(span_out(row))


def _blackout_out(row: AvailabilityBlackout) -> BlackoutOut:
    return BlackoutOut.model_validate(span_out(row))


@router.post(
    "/windows",
    status_code=status.HTTP_201_CREATED,
    response_model=WindowOut,
    operation_id="createAvailabilityWindow",
    responses=OWNER_ERRORS,
    summary="Add a window",
)
async def add_window(body: WindowCreate, spot: LockedOwnedSpot, session: DbSession, now: Now) -> WindowOut:
    return _window_out(await service.add_span(session, spot, AvailabilityWindow, body, now))


@router.get(
    "/windows",
    response_model=Page[WindowOut],
    operation_id="listAvailabilityWindows",
    responses=OWNER_ERRORS,
    summary="One-off windows (owner)",
)
async def list_windows(spot: OwnedSpot, session: DbSession, page: Paging) -> Page[WindowOut]:
    rows, next_cursor = await service.list_items(session, spot, AvailabilityWindow, page)
    return Page[WindowOut](items=[_window_out(r) for r in rows], next_cursor=next_cursor)


@router.delete(
    "/windows/{item_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    operation_id="deleteAvailabilityWindow",
    responses=OWNER_ERRORS,
    summary="Delete a window",
)
async def delete_window(item_id: str, spot: LockedOwnedSpot, session: DbSession, now: Now) -> Response:
    await service.remove_item(session, spot, AvailabilityWindow, parse_id(item_id, "window"), "window", now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/blackouts",
    status_code=status.HTTP_201_CREATED,
    response_model=BlackoutOut,
    operation_id="createAvailabilityBlackout",
    responses=OWNER_ERRORS,
    summary="Add a blackout",
)
async def add_blackout(
    body: BlackoutCreate, spot: LockedOwnedSpot, session: DbSession, now: Now
) -> BlackoutOut:
    return _blackout_out(await service.add_span(session, spot, AvailabilityBlackout, body, now))


@router.get(
    "/blackouts",
    response_model=Page[BlackoutOut],
    operation_id="listAvailabilityBlackouts",
    responses=OWNER_ERRORS,
    summary="Blackouts (owner)",
)
async def list_blackouts(spot: OwnedSpot, session: DbSession, page: Paging) -> Page[BlackoutOut]:
    rows, next_cursor = await service.list_items(session, spot, AvailabilityBlackout, page)
    return Page[BlackoutOut](items=[_blackout_out(r) for r in rows], next_cursor=next_cursor)


@router.delete(
    "/blackouts/{item_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    operation_id="deleteAvailabilityBlackout",
    responses=OWNER_ERRORS,
    summary="Delete a blackout",
)
async def delete_blackout(item_id: str, spot: LockedOwnedSpot, session: DbSession, now: Now) -> Response:
    await service.remove_item(
        session, spot, AvailabilityBlackout, parse_id(item_id, "blackout"), "blackout", now
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
