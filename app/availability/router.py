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
from app.schemas import Instant, Page, parse_id
from app.spots.dependencies import LockedOwnedSpot, OwnedSpot, ValidSpot
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
    "Remember to URL-encode `+` in offsets (`%2B01:00`), or use `Z`.",
)
async def get_availability(
    spot: ValidSpot,
    session: DbSession,
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


def _span_routes(
    path: str, model: Any, create: type[WindowCreate], out: type[WindowOut], noun: str, title: str
) -> None:
    """Add, list and delete for a kind of stored range (one-off windows, blackouts): the same
    routes on different tables."""

    async def add(body: create, spot: LockedOwnedSpot, session: DbSession, now: Now) -> out:  # type: ignore[valid-type]
        return out.model_validate(span_out(await service.add_span(session, spot, model, body, now)))

    async def list_(spot: OwnedSpot, session: DbSession, page: Paging) -> Page[out]:  # type: ignore[valid-type]
        rows, next_cursor = await service.list_items(session, spot, model, page)
        return Page[out](items=[out.model_validate(span_out(r)) for r in rows], next_cursor=next_cursor)  # type: ignore[valid-type]

    async def delete(item_id: str, spot: LockedOwnedSpot, session: DbSession, now: Now) -> Response:
        await service.remove_item(session, spot, model, parse_id(item_id, noun), noun, now)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    operation = f"Availability{noun.capitalize()}"
    for handler, verb in ((add, "add"), (list_, "list"), (delete, "delete")):
        handler.__name__ = f"{verb}_{noun}"
    router.add_api_route(
        path,
        add,
        methods=["POST"],
        status_code=201,
        response_model=out,
        operation_id=f"create{operation}",
        responses=OWNER_ERRORS,
        summary=f"Add a {noun}",
    )
    router.add_api_route(
        path,
        list_,
        methods=["GET"],
        response_model=Page[out],  # type: ignore[valid-type]
        operation_id=f"list{operation}s",
        responses=OWNER_ERRORS,
        summary=f"{title} (owner)",
    )
    router.add_api_route(
        f"{path}/{{item_id}}",
        delete,
        methods=["DELETE"],
        status_code=204,
        response_class=Response,
        operation_id=f"delete{operation}",
        responses=OWNER_ERRORS,
        summary=f"Delete a {noun}",
    )


_span_routes("/windows", AvailabilityWindow, WindowCreate, WindowOut, "window", "One-off windows")
_span_routes("/blackouts", AvailabilityBlackout, BlackoutCreate, BlackoutOut, "blackout", "Blackouts")
