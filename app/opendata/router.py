"""Open data for the city's data portal: no sign-in, answers any cache may keep.

The routes answer `Response`s they serialise themselves, so that the `ETag` is the hash of exactly
the bytes sent, and `If-None-Match` can be answered 304 without a body."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response

from app import openapi
from app.clock import Now
from app.db import DbSession
from app.opendata import service
from app.opendata.schemas import ParkingSite, ParkingSiteRealtime, ParkingSites, ParkingSitesRealtime

router = APIRouter(tags=["open data"])

MEDIA_TYPE = "application/json"
STATIC_CACHE = f"public, max-age={service.TTL_SECONDS}"

_HEADERS = {
    "ETag": {
        "description": "The answer's version: send it as `If-None-Match` to be answered 304 while it "
        "has not changed.",
        "schema": {"type": "string"},
    },
    "Last-Modified": {
        "description": "The start of the current 15-minute bucket.",
        "schema": {"type": "string"},
    },
    "Cache-Control": {"description": "`public, max-age=...`", "schema": {"type": "string"}},
    "Access-Control-Allow-Origin": {
        "description": "`*`: any web page may read these data.",
        "schema": {"type": "string"},
    },
    "Access-Control-Expose-Headers": {"description": "`ETag`", "schema": {"type": "string"}},
}

IfNoneMatch = Annotated[str | None, Header(description="The `ETag` of the answer you have")]


def _responses(example: Any) -> dict[int | str, Any]:
    return openapi.merge(
        openapi.answer(200, example, headers=_HEADERS),
        {
            304: {
                "description": "Not Modified: the answer is as your `If-None-Match` names it.",
                "headers": _HEADERS,
            }
        },
    )


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _not_modified(if_none_match: str | None, current: str) -> bool:
    """RFC 9110 If-None-Match: `*`, or a list of entity tags compared weakly."""
    if if_none_match is None:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == current for tag in if_none_match.split(","))


def _answer(body: bytes, if_none_match: str | None, cache_control: str, bucket: datetime) -> Response:
    tag = _etag(body)
    headers = {
        "ETag": tag,
        "Cache-Control": cache_control,
        "Last-Modified": format_datetime(bucket.astimezone(UTC), usegmt=True),
        # Public data: a portal's map in a browser reads it from any origin, with or without
        # CORS_ORIGINS. Nothing here depends on credentials, so `*` gives nothing away.
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Expose-Headers": "ETag",
    }
    if _not_modified(if_none_match, tag):
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type=MEDIA_TYPE, headers=headers)


@router.get(
    "/v1/open-data/parking-sites",
    response_model=ParkingSites,
    operation_id="listOpenDataParkingSites",
    responses=_responses(openapi.OPEN_DATA_SITES),
    summary="Zones of spots for the city's data portal (ParkAPI v3)",
    description="No sign-in. Zones of a fixed grid of cells of about 250 m, never single spots: a "
    "zone is listed only with at least 5 listed spots of at least 3 owners. Its location is the "
    "centre of its cell; no address, spot or person is named. Licence `dl-de/zero-2.0`. "
    "`Cache-Control: public, max-age=300`; send the `ETag` as `If-None-Match` for a 304.",
)
async def list_parking_sites(session: DbSession, now: Now, if_none_match: IfNoneMatch = None) -> Response:
    start, _ = service.bucket_of(now)
    answer = ParkingSites(
        last_updated=start,
        ttl=service.TTL_SECONDS,
        license=service.LICENSE,
        items=[
            ParkingSite(
                uid=zone.uid,
                name=zone.name,
                type="ZONE",
                lat=zone.lat,
                lon=zone.lon,
                capacity=zone.capacity,
                has_charging=zone.has_charging,
                max_height=zone.max_height,
            )
            for zone in await service.zones(session, now)
        ],
    )
    body = answer.model_dump_json(exclude_none=True).encode()
    return _answer(body, if_none_match, STATIC_CACHE, start)


@router.get(
    "/v1/open-data/parking-sites/realtime",
    response_model=ParkingSitesRealtime,
    operation_id="listOpenDataParkingSitesRealtime",
    responses=_responses(openapi.OPEN_DATA_REALTIME),
    summary="Free capacity of the zones in the current 15 minutes (ParkAPI v3)",
    description="No sign-in. For each zone of `listOpenDataParkingSites`: how many of its spots are "
    "free for the whole current 15-minute bucket (UTC quarter hours), rounded down to an even "
    "number, and whether any is offered in it. `realtime_data_updated_at` is the bucket's start. "
    "`Cache-Control: public` until the bucket ends; send the `ETag` as `If-None-Match` for a 304.",
)
async def list_parking_sites_realtime(
    session: DbSession, now: Now, if_none_match: IfNoneMatch = None
) -> Response:
    start, end = service.bucket_of(now)
    answer = ParkingSitesRealtime(
        last_updated=start,
        ttl=service.TTL_SECONDS,
        license=service.LICENSE,
        items=[
            ParkingSiteRealtime(
                uid=state.uid,
                realtime_free_capacity=state.free,
                realtime_opening_status="OPEN" if state.open else "CLOSED",
                realtime_data_updated_at=start,
            )
            for state in await service.realtime(session, now)
        ],
    )
    # Kept no longer than the bucket the values are for.
    max_age = max(1, int((end - now).total_seconds()))
    body = answer.model_dump_json().encode()
    return _answer(body, if_none_match, f"public, max-age={max_age}", start)
