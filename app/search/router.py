from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app import openapi
from app.clock import Now
from app.errors import Unauthorized
from app.pagination import PageParams, page_params
from app.replica import ReadSession
from app.schemas import MAX_CENTS, Instant, Rating
from app.search import service
from app.search.schemas import SearchItem, SearchPage, SearchQuote
from app.spots.service import to_out
from app.users.dependencies import OptionalUser
from app.users.service import own_vehicle

router = APIRouter(tags=["search"])


@router.get(
    "/v1/search",
    response_model=SearchPage,
    operation_id="searchSpots",
    responses=openapi.merge(openapi.answer(200, openapi.SEARCH_PAGE), openapi.problems("not_found")),
    openapi_extra=openapi.PUBLIC,
    summary="Spots near a point that are free for the whole interval",
    description="Only spots free for the whole `[start, end)` under their rules (windows, blackouts, "
    "bookings with their buffer, granularity, minimum and maximum duration, lead time, horizon) are "
    "returned, each with its public view, its distance and the price of exactly that interval. "
    "No sign-in is needed, except to filter by one of your vehicles (`vehicle_id`). An interval no "
    "spot could allow (end not after start, in the past, off the 5-minute grid, longer than 30 days, "
    "ending more than 365 days ahead) is 422 `invalid_interval` with `reason` and `limit`."
    + openapi.FROM_REPLICA,
)
async def search(
    session: ReadSession,
    user: OptionalUser,
    now: Now,
    page: Annotated[PageParams, Depends(page_params)],
    lat: Annotated[float, Query(ge=-90, le=90)],
    lon: Annotated[float, Query(ge=-180, le=180)],
    radius_m: Annotated[float, Query(gt=0, le=service.MAX_RADIUS_M, description="At most 10000")],
    start: Annotated[Instant, Query(description="RFC 3339 with offset (URL-encode `+` as `%2B`)")],
    end: Annotated[Instant, Query(description="RFC 3339 with offset; after start, at most 30 days later")],
    ev: Annotated[bool, Query(description="Only spots with an EV charger")] = False,
    covered: Annotated[bool, Query(description="Only covered spots")] = False,
    max_total_cents: Annotated[
        int | None, Query(ge=0, le=MAX_CENTS, description="Only spots costing at most this for the interval")
    ] = None,
    vehicle_id: Annotated[
        str | None, Query(max_length=64, description="Only spots this vehicle of yours fits")
    ] = None,
    sort: Annotated[
        service.Sort,
        Query(
            description="`distance` (default): nearest first; `price`: cheapest for the interval first, "
            "then nearest; `rating`: best `rating.average` first, then more ratings, then nearest, "
            "unrated spots last"
        ),
    ] = "distance",
) -> SearchPage:
    vehicle = None
    if vehicle_id is not None:
        if user is None:
            raise Unauthorized("sign in to search with one of your vehicles")
        row = await own_vehicle(session, user, vehicle_id, where="query")
        vehicle = (row.length_cm, row.width_cm, row.height_cm)
    query = service.SearchQuery(
        lat=lat,
        lon=lon,
        radius_m=radius_m,
        start=start,
        end=end,
        ev=ev,
        covered=covered,
        max_total_cents=max_total_cents,
        vehicle=vehicle,
        sort=sort,
        limit=page.limit,
        cursor=page.cursor,
    )
    hits, next_cursor = await service.search(session, query, now)
    return SearchPage(
        items=[
            SearchItem(
                spot=to_out(
                    hit.spot,
                    full=False,
                    rating=Rating(average=hit.rating_average, count=hit.rating_count),
                ),
                distance_m=hit.distance_m,
                quote=SearchQuote(total_cents=hit.total_cents, currency=hit.spot.currency),
            )
            for hit in hits
        ],
        next_cursor=next_cursor,
    )
