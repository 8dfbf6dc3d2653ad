"""Calendar feeds (RFC 5545): the owner of a spot and a driver each get a secret URL to subscribe
to in a calendar program. The feed routes take no bearer token: the `token` in the URL is the
credential, so the OpenAPI document lists them without security."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response

from app import openapi
from app.calendars import service
from app.calendars.schemas import CalendarTokenOut
from app.clock import Now
from app.db import DbSession
from app.openapi import answer, problems
from app.spots.dependencies import OwnedSpot
from app.users.dependencies import CurrentUser

router = APIRouter(tags=["calendars"])

MEDIA_TYPE = "text/calendar; charset=utf-8"
# Calendar programs read a feed every 15 minutes or less often; a client's own cache may answer
# for a few minutes, no shared cache ever (the URL is a secret).
CACHE_CONTROL = "private, max-age=300"
# The answer that carries a new secret is not kept anywhere.
NO_STORE = {"Cache-Control": "no-store"}
NO_STORE_HEADER = {"Cache-Control": {"description": "`no-store`", "schema": {"type": "string"}}}

_QUERY = "token=q9V2m1xZ0bWk7yJf3pLr8sTd5aGh6cNe4uYi2oKw1Em"
_SPOT = "9a3e5c7d-1f2b-4d6a-8c0e-2b4d6f8a0c1e"
SPOT_TOKEN_URL = {"url": f"https://api.parkshare.example/v1/spots/{_SPOT}/calendar.ics?{_QUERY}"}
DRIVER_TOKEN_URL = {"url": f"https://api.parkshare.example/v1/me/calendar.ics?{_QUERY}"}


def _feed_example(name: str, event: list[str]) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//parkshare//calendar//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"NAME:{name}",
        f"X-WR-CALNAME:{name}",
        "REFRESH-INTERVAL;VALUE=DURATION:PT15M",
        "X-PUBLISHED-TTL:PT15M",
        "BEGIN:VEVENT",
        *event,
        "DTSTART:20261124T080000Z",
        "DTEND:20261124T100000Z",
        "DTSTAMP:20261123T080300Z",
        "UID:2d4f6a8c-0e1b-4c3d-8f5a-7c9e1b3d5f7a@parkshare",
        "SEQUENCE:1",
        "CREATED:20261123T080000Z",
        "LAST-MODIFIED:20261123T080300Z",
        "STATUS:CONFIRMED",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join([*lines, ""])


SPOT_FEED = _feed_example("Covered garage near Kreuzkirche", ["SUMMARY:Booked by Bob"])
DRIVER_FEED = _feed_example(
    "parkshare bookings",
    [
        "SUMMARY:Parking: Covered garage near Kreuzkirche",
        "DESCRIPTION:The address and access details appear here 60 minutes before",
        "  the start.",
        "LOCATION:Kreuzviertel",
        "GEO:51.506;7.454",
    ],
)
FEED_HEADERS = {
    "ETag": {
        "description": "The feed's version: send it as `If-None-Match` to be answered 304 while nothing changed.",
        "schema": {"type": "string"},
    },
    "Cache-Control": {"description": f"`{CACHE_CONTROL}`", "schema": {"type": "string"}},
}


def _feed_responses(example: str) -> dict[int | str, Any]:
    return openapi.merge(
        {
            200: {
                "description": "An iCalendar (RFC 5545) document, one `VEVENT` per booking.",
                "content": {"text/calendar": {"schema": {"type": "string"}, "example": example}},
                "headers": FEED_HEADERS,
            },
            304: {
                "description": "Not Modified: the feed is as your `If-None-Match` names it.",
                "headers": FEED_HEADERS,
            },
        },
        problems("not_found"),
    )


FEED_DESCRIPTION = (
    " No `Authorization`: the `token` in the URL is the credential; a wrong token, or one replaced "
    "by a newer one, is 404 `not_found`. Times are UTC. `UID` is stable per booking and `SEQUENCE` "
    "rises with each of its changes. A booking is listed until "
    f"{service.KEEP.days} days after its end; a cancelled, declined or expired one as "
    f"`STATUS:CANCELLED` for {service.KEEP.days} days after that change; at most the "
    f"{service.MAX_EVENTS} bookings nearest to now. Send the `ETag` as `If-None-Match` to get 304 "
    "while nothing changed."
)

TokenQuery = Annotated[str, Query(description="The secret from the URL that issuing the feed answered")]
IfNoneMatch = Annotated[str | None, Header(description="ETag of the feed you have")]


def _feed(body: bytes, if_none_match: str | None) -> Response:
    tag = service.etag(body)
    headers = {"ETag": tag, "Cache-Control": CACHE_CONTROL}
    if service.not_modified(if_none_match, tag):
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type=MEDIA_TYPE, headers=headers)


@router.post(
    "/v1/spots/{spot_id}/calendar-token",
    response_model=CalendarTokenOut,
    operation_id="issueSpotCalendarToken",
    responses=openapi.merge(
        answer(200, SPOT_TOKEN_URL, headers=NO_STORE_HEADER), problems("forbidden", "not_found")
    ),
    summary="A secret calendar feed URL of your spot's bookings (owner)",
    description="Subscribe to `url` in a calendar program. Each call issues a new URL and revokes "
    "the one before (404 from then on).",
)
async def issue_spot_calendar_token(
    request: Request, spot: OwnedSpot, user: CurrentUser, session: DbSession, response: Response, now: Now
) -> CalendarTokenOut:
    token = await service.issue_spot_token(session, spot, user, now)
    response.headers.update(NO_STORE)
    url = request.url_for("get_spot_calendar_feed", spot_id=str(spot.id)).include_query_params(token=token)
    return CalendarTokenOut(url=str(url))


@router.post(
    "/v1/me/calendar-token",
    response_model=CalendarTokenOut,
    operation_id="issueMyCalendarToken",
    responses=answer(200, DRIVER_TOKEN_URL, headers=NO_STORE_HEADER),
    summary="A secret calendar feed URL of your bookings as driver",
    description="Subscribe to `url` in a calendar program. Each call issues a new URL and revokes "
    "the one before (404 from then on).",
)
async def issue_my_calendar_token(
    request: Request, user: CurrentUser, session: DbSession, response: Response, now: Now
) -> CalendarTokenOut:
    token = await service.issue_driver_token(session, user, now)
    response.headers.update(NO_STORE)
    url = request.url_for("get_my_calendar_feed").include_query_params(token=token)
    return CalendarTokenOut(url=str(url))


@router.get(
    "/v1/spots/{spot_id}/calendar.ics",
    response_class=Response,
    operation_id="getSpotCalendarFeed",
    responses=_feed_responses(SPOT_FEED),
    summary="The calendar feed of a spot's bookings (owner's secret URL)",
    description="Each booking of the spot, the driver shown by display name only." + FEED_DESCRIPTION,
)
async def get_spot_calendar_feed(
    spot_id: str, token: TokenQuery, session: DbSession, now: Now, if_none_match: IfNoneMatch = None
) -> Response:
    return _feed(await service.spot_feed(session, spot_id, token, now), if_none_match)


@router.get(
    "/v1/me/calendar.ics",
    response_class=Response,
    operation_id="getMyCalendarFeed",
    responses=_feed_responses(DRIVER_FEED),
    summary="The calendar feed of your bookings as driver (secret URL)",
    description="Each of your bookings with the spot's title, district and rounded location; its "
    "address and access details only from the spot's `reveal_before_min` before the start of a "
    "confirmed booking until its end." + FEED_DESCRIPTION,
)
async def get_my_calendar_feed(
    token: TokenQuery, session: DbSession, now: Now, if_none_match: IfNoneMatch = None
) -> Response:
    return _feed(await service.driver_feed(session, token, now), if_none_match)
