"""The OpenAPI document as client generators (openapi-generator for Swift and Kotlin) read it, and
the offline Swagger UI at /docs.

FastAPI writes most of the document from the routes; `build` then adds, in one place, what is the
same for every route of a kind, so that no route can forget it: the bearer requirement and 401 on
routes that read the caller, 503 on routes that use the database, 400 and 413 on routes with a
body, the problem codes of every error answer, the headers of retries and rate limits, and named
enums a generator turns into enum types. Routes name their own operationId, examples and the
domain problems they answer (`problems("slot_unavailable", ...)`).

The document is committed as tests/openapi.snapshot.json so that a change of the contract shows in
review; after changing a schema or a route, regenerate it with `make openapi-snapshot`
(`parkshare openapi --write tests/openapi.snapshot.json`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from app.errors import PROBLEM_MEDIA_TYPE, problem_body

PROBLEM_REF = "#/components/schemas/Problem"
BEARER = "bearer"
# Search, the public spot view and free intervals: a token is optional (it shows more to some).
# The empty requirement first, so a generator makes the token optional for these calls.
PUBLIC: dict[str, Any] = {"security": [{}, {BEARER: []}]}
MERGE_PATCH = "application/merge-patch+json"

# Appended to the descriptions of the three reads that need no sign-in (docs/replica.md).
FROM_REPLICA = (
    " Without a token the answer may come from a read replica, at most `REPLICA_MAX_LAG_SECONDS` "
    "(5 s by default) behind the latest writes; with one it sees every write."
)

# Every problem `code` the service answers, with its status (docs/api.md, "Error codes"). The `code`
# property of Problem is this enum; tests/test_openapi.py checks that every ProblemError subclass
# and every code the error handlers answer is listed here with the same status.
CODE_STATUS: dict[str, int] = {
    "bad_request": 400,
    "unauthorized": 401,
    "invalid_credentials": 401,
    "account_suspended": 401,
    "forbidden": 403,
    "email_not_verified": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "not_acceptable": 406,
    "conflict": 409,
    "email_taken": 409,
    "slot_unavailable": 409,
    "own_spot": 409,
    "invalid_transition": 409,
    "review_window_closed": 409,
    "hold_expired": 409,
    "spot_has_bookings": 409,
    "series_conflict": 409,
    "idempotency_in_progress": 409,
    "precondition_failed": 412,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "validation_error": 422,
    "invalid_interval": 422,
    "outside_availability": 422,
    "vehicle_does_not_fit": 422,
    "idempotency_key_reused": 422,
    "webhook_url_not_allowed": 422,
    "invalid_token": 422,
    "rate_limited": 429,
    "internal_error": 500,
    "unavailable": 503,
}
# What `problem_openapi(status)` documents when a route names only statuses.
_GENERIC_CODE = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}
CODES_KEY = "x-problem-codes"
# RFC 9110's names, not `http.HTTPStatus`'s, which differ between Python versions: the committed
# document must not depend on the Python that wrote it.
PHRASES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0},
    }
}
WWW_AUTHENTICATE = {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}}
REPLAYED = {
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request with the same "
        "`Idempotency-Key` (nothing was done again); absent otherwise.",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
ETAG = {"ETag": {"description": "The spot's version, to send as `If-Match`.", "schema": {"type": "string"}}}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details. `code` is stable; `errors` lists field problems on 422. "
    "New codes may be added: generate clients with an unknown-enum fallback "
    "(openapi-generator: `enumUnknownDefaultCase=true`).",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "description": "`urn:parkshare:problem:<code>`"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "For people; do not parse."},
        "code": {"$ref": "#/components/schemas/ProblemCode"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldProblem"}},
    },
}
FIELD_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "FieldProblem",
    "type": "object",
    "required": ["loc", "field", "message", "type"],
    "properties": {
        "loc": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Where: `body`, `query`, `path` or `header`, then the field's path",
        },
        "field": {"type": "string", "description": "The location without its first part, dotted"},
        "message": {"type": "string"},
        "type": {"type": "string", "description": "pydantic's error type, e.g. `missing`"},
    },
}


# Answer fields typed `str` in the models that only ever hold an enum's values (they are copied
# from validated input or from the database's constraints).
TYPED_STRINGS: dict[tuple[str, str], str] = {
    ("UserOut", "role"): "Role",
    ("ModeratedUser", "role"): "Role",
    ("RulesOut", "cancellation_policy"): "CancellationPolicy",
    ("CancellationOut", "policy"): "CancellationPolicy",
    ("SeriesQuoteOut", "cancellation_policy"): "CancellationPolicy",
    ("EvChargerOut", "connector"): "Connector",
}


# --- for the routes' decorators ---------------------------------------------------------------


def _problem_response(status: int, codes: Iterable[str]) -> dict[str, Any]:
    return {
        "description": PHRASES[status],
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}},
        CODES_KEY: list(dict.fromkeys(codes)),
    }


def problems(*codes: str) -> dict[int | str, dict[str, Any]]:
    """`responses` entries for the problem codes a route answers, grouped by their status. The
    codes every route of a kind answers (401, 400, 413, 422 `validation_error`, 503) are added by
    `build`; name the domain ones here."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(CODE_STATUS[code], []).append(code)
    return {status: _problem_response(status, found) for status, found in sorted(by_status.items())}


def problem_openapi(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses` entries for the given statuses with their generic codes; prefer `problems`."""
    return {
        status: _problem_response(status, [_GENERIC_CODE.get(status, "bad_request")]) for status in statuses
    }


def answer(status: int, example: Any, *, headers: Mapping[str, Any] | None = None) -> dict[int | str, Any]:
    """A `responses` entry giving the success answer's example (the schema comes from the route)."""
    entry: dict[str, Any] = {"content": {"application/json": {"example": example}}}
    if headers:
        entry["headers"] = dict(headers)
    return {status: entry}


def request_example(example: Any, *, media_types: Iterable[str] = ("application/json",)) -> dict[str, Any]:
    """`openapi_extra` giving the request body's example."""
    return {"requestBody": {"content": {m: {"example": example} for m in media_types}}}


def merge(*parts: Mapping[Any, Any]) -> dict[Any, Any]:
    """Combines `responses` or `openapi_extra` dicts, deeply, so two parts may describe one status."""
    out: dict[Any, Any] = {}
    for part in parts:
        _deep_update(out, part)
    return out


def _deep_update(target: dict[Any, Any], update: Mapping[Any, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        elif isinstance(value, list) and isinstance(target.get(key), list):
            # Two parts naming codes for one status: all of them.
            target[key] = list(dict.fromkeys([*target[key], *value]))
        else:
            target[key] = copy.deepcopy(value)


# --- examples ---------------------------------------------------------------------------------
# One per main request and answer; tests/test_openapi.py validates each against its schema.

_ALICE = "6f1c2a9e-8b7d-4c6e-9a51-2d0f7b6e4c11"
_BOB = "0b6d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f"
_SPOT = "9a3e5c7d-1f2b-4d6a-8c0e-2b4d6f8a0c1e"
_VEHICLE = "5c7e9a1b-3d5f-4a7c-9e1b-3d5f7a9c1e3b"
_BOOKING = "2d4f6a8c-0e1b-4c3d-8f5a-7c9e1b3d5f7a"
_CREATED = "2026-11-23T08:00:00Z"

REGISTER_REQUEST = {"email": "anna@example.com", "password": "correct horse battery", "display_name": "Anna"}
USER = {
    "id": _ALICE,
    "email": "anna@example.com",
    "display_name": "Anna",
    "phone": None,
    "email_verified": True,
    "role": "user",
    "created_at": _CREATED,
    "updated_at": _CREATED,
}
LOGIN_REQUEST = {"email": "anna@example.com", "password": "correct horse battery"}
TOKENS = {
    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI2ZjFjIn0.c2lnbmF0dXJl",
    "refresh_token": "rt_8Jx2QmVq7nK4pL0sT9wYzA",
    "token_type": "bearer",
    "expires_in": 900,
}
SPOT_CREATE: dict[str, Any] = {
    "title": "Covered garage near Kreuzkirche",
    "description": "Ground floor, wide door.",
    "address": {
        "street": "Kreuzstraße",
        "house_number": "12a",
        "postal_code": "44139",
        "city": "Dortmund",
        "district": "Kreuzviertel",
    },
    "location": {"lat": 51.50612, "lon": 7.45371},
    "timezone": "Europe/Berlin",
    "features": {
        "covered": True,
        "ev_charger": {"connector": "type2", "power_kw": 11},
        "wheelchair_accessible": False,
        "lit": True,
    },
    "max_vehicle": {"length_cm": 500, "width_cm": 220, "height_cm": 200},
    "access_instructions": "Gate code 4711, second door on the left.",
    "pricing": {"hourly_cents": 250, "daily_cap_cents": 1500, "currency": "EUR"},
    "rules": {
        "granularity_min": 15,
        "min_duration_min": 30,
        "max_duration_min": 43200,
        "lead_time_min": 0,
        "horizon_days": 90,
        "buffer_min": 0,
        "instant_book": True,
        "cancellation_policy": "flexible",
        "reveal_before_min": 60,
        "grace_min": 10,
        "overstay_hourly_cents": 375,
        "check_in_required": False,
        "no_show_after_min": 30,
    },
}
SPOT_PATCH = {"pricing": {"hourly_cents": 300}, "rules": {"buffer_min": 15}, "description": None}
SPOT = {
    "id": _SPOT,
    "view": "full",
    "owner_id": _ALICE,
    **SPOT_CREATE,
    "rating": {"average": 4.7, "count": 12},
    "created_at": _CREATED,
    "updated_at": _CREATED,
}
PUBLIC_SPOT = {
    **SPOT,
    "view": "public",
    "owner_id": None,
    "address": {**SPOT_CREATE["address"], "house_number": None},
    "location": {"lat": 51.506, "lon": 7.454},
    "access_instructions": None,
}
RULE_CREATE = {"weekdays": ["mon", "tue", "wed", "thu", "fri"], "start_time": "08:00", "end_time": "18:00"}
RULE = {
    **RULE_CREATE,
    "id": "7e9a1b3c-5d7f-4a9b-8c1d-3e5f7a9b1c3d",
    "valid_from": None,
    "valid_until": None,
    "created_at": _CREATED,
}
AVAILABILITY = {
    "spot_id": _SPOT,
    "timezone": "Europe/Berlin",
    "free": [
        {"start": "2026-11-24T07:00:00Z", "end": "2026-11-24T17:00:00Z"},
        {"start": "2026-11-25T07:00:00Z", "end": "2026-11-25T17:00:00Z"},
    ],
}
SEARCH_PAGE = {
    "items": [{"spot": PUBLIC_SPOT, "distance_m": 240.0, "quote": {"total_cents": 500, "currency": "EUR"}}],
    "next_cursor": None,
}
QUOTE_REQUEST = {"spot_id": _SPOT, "start": "2026-11-24T09:00:00+01:00", "end": "2026-11-24T11:00:00+01:00"}
QUOTE = {
    "bookable": True,
    "reason_code": None,
    "total_cents": 500,
    "currency": "EUR",
    "breakdown": [{"label": "2026-11-24: 2 h at 2.50 EUR/h, capped at 15.00 EUR/day", "amount_cents": 500}],
    "cancellation": {
        "policy": "flexible",
        "refunds": [{"until": "2026-11-24T08:00:00Z", "refund_cents": 500}],
    },
}
BOOKING_CREATE = {**QUOTE_REQUEST, "vehicle_id": _VEHICLE}
BOOKING: dict[str, Any] = {
    "id": _BOOKING,
    "spot_id": _SPOT,
    "spot": {
        "title": SPOT_CREATE["title"],
        "district": "Kreuzviertel",
        "location": {"lat": 51.506, "lon": 7.454},
    },
    "driver_id": _BOB,
    "driver_name": "Bob",
    "vehicle_id": _VEHICLE,
    "series_id": None,
    "license_plate": "DO-PS 1234",
    "start": "2026-11-24T08:00:00Z",
    "end": "2026-11-24T10:00:00Z",
    "status": "held",
    "total_cents": 500,
    "currency": "EUR",
    "refund_cents": None,
    "hold_expires_at": "2026-11-23T08:10:00Z",
    "request_expires_at": None,
    "checked_in_at": None,
    "checked_out_at": None,
    "overstay_cents": 0,
    "spot_occupied_at": None,
    "created_at": _CREATED,
    "updated_at": _CREATED,
    "events": [{"at": _CREATED, "status": "held", "by": _BOB}],
    "driver_rating": None,
}
CONFIRMED_BOOKING = {
    **BOOKING,
    "status": "confirmed",
    "hold_expires_at": None,
    "updated_at": "2026-11-23T08:03:00Z",
    "events": [*BOOKING["events"], {"at": "2026-11-23T08:03:00Z", "status": "confirmed", "by": _BOB}],
}

CHECKED_IN_BOOKING = {
    **CONFIRMED_BOOKING,
    "checked_in_at": "2026-11-24T07:52:00Z",
    "updated_at": "2026-11-24T07:52:00Z",
    "events": [
        *CONFIRMED_BOOKING["events"],
        {"at": "2026-11-24T07:52:00Z", "status": "confirmed", "by": _BOB},
    ],
}
# 25 minutes late with a 10-minute grace on a 15-minute granularity: two started units of
# overstay at 3.75 EUR/h (1.5 times 2.50), counted from the end.
CHECKED_OUT_BOOKING = {
    **CHECKED_IN_BOOKING,
    "status": "completed",
    "checked_out_at": "2026-11-24T10:25:00Z",
    "overstay_cents": 188,
    "updated_at": "2026-11-24T10:25:00Z",
    "events": [
        *CHECKED_IN_BOOKING["events"],
        {"at": "2026-11-24T10:20:00Z", "status": "overstayed", "by": "system"},
        {"at": "2026-11-24T10:25:00Z", "status": "completed", "by": _BOB},
    ],
}
_SERIES = "1c3e5a7b-9d1f-4b3c-8e5a-7b9d1f3c5e7a"
SERIES_REQUEST = {
    "spot_id": _SPOT,
    "weekdays": ["mon", "tue", "wed"],
    "start_time": "08:00",
    "end_time": "18:00",
    "from": "2026-11-30",
    "until": "2026-12-02",
    "vehicle_id": _VEHICLE,
    "on_conflict": "skip",
}
_OCCURRENCE_BOOKINGS = ("4e6a8c0d-2f4b-4d6e-8a0c-2e4f6a8b0c1d", "5f7b9d1e-3a5c-4e7f-9b1d-3f5a7b9c1d2e")
SERIES: dict[str, Any] = {
    "id": _SERIES,
    "spot_id": _SPOT,
    "driver_id": _BOB,
    "vehicle_id": _VEHICLE,
    "status": "held",
    "weekdays": ["mon", "tue", "wed"],
    "start_time": "08:00",
    "end_time": "18:00",
    "from": "2026-11-30",
    "until": "2026-12-02",
    "timezone": "Europe/Berlin",
    "on_conflict": "skip",
    "occurrences": [
        {
            "start": "2026-11-30T07:00:00Z",
            "end": "2026-11-30T17:00:00Z",
            "booking_id": _OCCURRENCE_BOOKINGS[0],
            "status": "held",
            "skipped_reason": None,
            "reason": None,
            "limit": None,
        },
        {
            "start": "2026-12-01T07:00:00Z",
            "end": "2026-12-01T17:00:00Z",
            "booking_id": None,
            "status": None,
            "skipped_reason": "slot_unavailable",
            "reason": None,
            "limit": None,
        },
        {
            "start": "2026-12-02T07:00:00Z",
            "end": "2026-12-02T17:00:00Z",
            "booking_id": _OCCURRENCE_BOOKINGS[1],
            "status": "held",
            "skipped_reason": None,
            "reason": None,
            "limit": None,
        },
    ],
    "total_cents": 3000,
    "refund_cents": 0,
    "currency": "EUR",
    "created_at": _CREATED,
    "cancelled_at": None,
}
CONFIRMED_SERIES = {
    **SERIES,
    "status": "confirmed",
    "occurrences": [{**o, "status": "confirmed"} if o["booking_id"] else o for o in SERIES["occurrences"]],
}
SERIES_QUOTE = {
    "spot_id": _SPOT,
    "bookable": True,
    "occurrences": [
        {
            "start": o["start"],
            "end": o["end"],
            "bookable": o["booking_id"] is not None,
            "reason_code": o["skipped_reason"],
            "reason": None,
            "limit": None,
            "total_cents": 1500,
        }
        for o in SERIES["occurrences"]
    ],
    "total_cents": 3000,
    "currency": "EUR",
    "cancellation_policy": "flexible",
}

_WEBHOOK = "3b5d7f9a-1c3e-4a5b-8d7f-9a1b3c5d7e9f"
_EVENT = "8c0e2a4b-6d8f-4a1c-9e3b-5d7f9a1c3e5b"
WEBHOOK_CREATE = {
    "url": "https://hooks.example.com/parkshare",
    "events": ["booking.confirmed", "booking.cancelled"],
    "description": "Garage door controller",
}
WEBHOOK: dict[str, Any] = {
    "id": _WEBHOOK,
    **WEBHOOK_CREATE,
    "enabled": True,
    "failing_since": None,
    "disabled_at": None,
    "created_at": _CREATED,
    "updated_at": _CREATED,
}
WEBHOOK_CREATED = {**WEBHOOK, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw7sJXvU2qFkE="}
WEBHOOK_PATCH = {"events": ["booking.confirmed", "booking.cancelled", "booking.extended"], "enabled": True}
WEBHOOK_SECRET = {
    "secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD7GDLAVPRANc=",
    "previous_secret_expires_at": "2026-11-24T08:00:00Z",
}
WEBHOOK_TEST = {"event_id": _EVENT}
DELIVERY: dict[str, Any] = {
    "id": "4c6e8a0b-2d4f-4b6c-8e0a-2c4e6a8b0d2f",
    "event_id": _EVENT,
    "event_type": "booking.confirmed",
    "status": "pending",
    "attempts": [
        {
            "at": "2026-11-23T08:03:00Z",
            "response_status": 503,
            "duration_ms": 84,
            "error": "HTTP 503",
            "response_body": "upstream unavailable",
        }
    ],
    "next_attempt_at": "2026-11-23T08:03:05Z",
    "created_at": "2026-11-23T08:03:00Z",
}
DELIVERIES = {"items": [DELIVERY], "next_cursor": None}
REDELIVERY = {
    **DELIVERY,
    "id": "6e8a0c2d-4f6b-4d8e-8a2c-4e6a8c0d2f4b",
    "attempts": [],
    "next_attempt_at": "2026-11-23T09:00:00Z",
    "created_at": "2026-11-23T09:00:00Z",
}


# Web Push: the browser's subscription as `PushSubscription.toJSON()` gives it (keys from RFC 8291's
# example), and the server's public key (RFC 8292's example).
PUSH_SUBSCRIPTION_CREATE = {
    "endpoint": "https://push.example.net/push/JzLQ3raZJfFBR0aqvOMsLrt54w4rJUsV",
    "keys": {
        "p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
        "auth": "BTBZMqHH6r4Tts7J_aSIgg",
    },
}
PUSH_SUBSCRIPTION = {"id": "4b6d8f0a-2c4e-4a6b-8d0f-1a3c5e7a9b2d"}
VAPID_PUBLIC_KEY = {
    "key": "BA1Hxzyi1RUM1b5wjxsn7nGxAszw2u61m164i3MrAIxHF6YK5h4SDYic-dRuU_RCPCfA5aq9ojSwk5Y2EmClBPs"
}


# Open data: one zone of the grid (app/opendata/service.py), in the bucket of 09:07 on a Monday.
_ZONE = "parkshare:zone:250m-N22891-E2127"
OPEN_DATA_SITES = {
    "last_updated": "2026-11-23T08:00:00Z",
    "ttl": 300,
    "license": "dl-de/zero-2.0",
    "items": [
        {
            "uid": _ZONE,
            "name": "Kreuzviertel (parkshare zone 250m-N22891-E2127)",
            "type": "ZONE",
            "purpose": "CAR",
            "lat": 51.505875,
            "lon": 7.44625,
            "capacity": 7,
            "has_charging": True,
            "max_height": 200,
            "has_realtime_data": True,
            "has_fee": True,
        }
    ],
}
OPEN_DATA_REALTIME = {
    "last_updated": "2026-11-23T08:00:00Z",
    "ttl": 300,
    "license": "dl-de/zero-2.0",
    "items": [
        {
            "uid": _ZONE,
            "realtime_free_capacity": 4,
            "realtime_opening_status": "OPEN",
            "realtime_data_updated_at": "2026-11-23T08:00:00Z",
        }
    ],
}

# GDPR: the export of an account (here with a vehicle and a webhook; every list may be empty) and
# the erasure's request.
ERASE_REQUEST = {"password": "correct horse battery"}
MODERATION_REASON = {"reason": "Fake listing reported by three drivers"}
SUSPENDED_USER = {
    "id": _BOB,
    "display_name": "Ben",
    "role": "user",
    "suspended_at": "2026-11-23T09:00:00Z",
    "cancelled_bookings": 1,
}
REINSTATED_USER = {**SUSPENDED_USER, "suspended_at": None, "cancelled_bookings": 0}
UNLISTED_SPOT = {
    "id": _SPOT,
    "title": "Garage near Kreuzviertel",
    "unlisted_at": "2026-11-23T09:00:00Z",
    "cancelled_bookings": 0,
}
RELISTED_SPOT = {**UNLISTED_SPOT, "unlisted_at": None}
_REVIEW = "1f3b5d7f-9a2c-4e6a-8b0d-2f4a6c8e0b1d"
REVIEW_CREATE = {"rating": 5, "comment": "Easy to find, the gate code worked at once."}
REVIEW = {
    "id": _REVIEW,
    "booking_id": _BOOKING,
    "spot_id": _SPOT,
    "author_role": "driver",
    "author": {"display_name": "Bob"},
    **REVIEW_CREATE,
    "created_at": "2026-11-24T11:00:00Z",
    "visible_at": "2026-12-08T10:00:00Z",
    "reply": None,
}
REPLY_CREATE = {"comment": "Thank you, see you again!"}
REPLIED_REVIEW = {
    **REVIEW,
    "visible_at": "2026-11-24T12:30:00Z",
    "reply": {"comment": REPLY_CREATE["comment"], "created_at": "2026-11-24T13:00:00Z"},
}
REVIEW_PAGE = {"items": [REPLIED_REVIEW], "next_cursor": None}
BOOKING_REVIEWS = {
    "items": [
        REPLIED_REVIEW,
        {
            **REVIEW,
            "id": "3d5f7a9c-1e3b-4d5f-8a7c-9e1b3d5f7a9c",
            "author_role": "owner",
            "author": {"display_name": "Anna"},
            "rating": 5,
            "comment": "Left the spot on time and clean.",
            "created_at": "2026-11-24T12:30:00Z",
            "visible_at": "2026-11-24T12:30:00Z",
        },
    ]
}
HIDE_REASON = {"reason": "Insults the owner by name"}
HIDDEN_REVIEW = {"id": _REVIEW, "hidden_at": "2026-11-25T09:00:00Z"}
AUDIT_PAGE = {
    "items": [
        {
            "id": "7e1d3c5b-9a2f-4e6d-8c1b-5a3f7e9d1c2b",
            "at": "2026-11-23T09:00:00Z",
            "actor": {"id": _ALICE, "display_name": "Anna"},
            "action": "spot.unlist",
            "target": {"type": "spot", "id": _SPOT},
            "reason": "Fake listing reported by three drivers",
        }
    ],
    "next_cursor": None,
}
_EARNED = {
    "currency": "EUR",
    "bookings": 12,
    "booked_cents": 14400,
    "refunded_cents": 1200,
    "overstay_cents": 375,
    "platform_fee_cents": 0,
    "net_cents": 13575,
}
EARNINGS: dict[str, Any] = {
    "from": "2026-01-01",
    "to": "2027-01-01",
    "group": "month",
    "platform_fee_percent": "0",
    "items": [{"period": "2026-11", "spot_id": None, "spot_title": None, **_EARNED}],
    "totals": [{"period": None, "spot_id": None, "spot_title": None, **_EARNED}],
}
EARNINGS_CSV = (
    "period,spot_id,spot_title,currency,bookings,booked_cents,refunded_cents,overstay_cents,"
    "platform_fee_cents,net_cents\r\n2026-11,,,EUR,12,14400,1200,375,0,13575\r\n"
)

ACCOUNT_EXPORT: dict[str, Any] = {
    "exported_at": "2026-11-23T09:00:00Z",
    "profile": USER,
    "vehicles": [
        {
            "id": _VEHICLE,
            "license_plate": "DO-PS 123",
            "length_cm": 450,
            "width_cm": 180,
            "height_cm": 150,
            "electric": False,
            "created_at": _CREATED,
            "removed_at": None,
        }
    ],
    "spots": [],
    "bookings_as_driver": [],
    "bookings_as_owner": [],
    "booking_series": [],
    "reviews_written": [{**REVIEW, "hidden_at": None}],
    "reviews_received": [],
    "webhooks": [WEBHOOK],
    "push_subscriptions": [],
    "sign_in_sessions": [
        {
            "id": "7e9a1c3e-5b7d-4f9a-8c1e-3b5d7f9a1c3e",
            "created_at": _CREATED,
            "revoked_at": None,
            "revoked_reason": None,
            "refresh_tokens": [
                {"created_at": _CREATED, "expires_at": "2026-12-23T08:00:00Z", "used_at": None}
            ],
        }
    ],
    "calendar_feeds": [{"spot_id": None, "created_at": _CREATED}],
    "events": [],
    "emails": [
        {
            "kind": "verify_email",
            "to": "anna@example.com",
            "subject": "Confirm your e-mail address / Bestätige deine E-Mail-Adresse",
            "created_at": _CREATED,
            "sent_at": "2026-11-20T10:00:02Z",
            "failed_at": None,
        }
    ],
    "consents": [],
    "not_exported": {"rate_limits": "internal: counters of sign-in attempts, kept for one window"},
}


def problem_example(
    status: int, code: str, detail: str, *, errors: list[dict[str, Any]] | None = None, **members: Any
) -> dict[int | str, Any]:
    """A `responses` entry with an example problem, as the handlers write it; `members` are its
    extension members (an `invalid_interval`'s `reason` and `limit`)."""
    body = {**problem_body(status, code, detail, errors=errors, extra=members), "title": PHRASES[status]}
    return {status: {"content": {PROBLEM_MEDIA_TYPE: {"example": body}}}}


SLOT_TAKEN = problem_example(409, "slot_unavailable", "the spot is taken for part of the interval")

SERIES_CONFLICT = problem_example(
    409,
    "series_conflict",
    "1 of 3 occurrences cannot be booked",
    errors=[
        {
            "loc": ["body", "occurrences", "1"],
            "field": "occurrences.1",
            "message": "the spot is taken for part of the interval",
            "type": "slot_unavailable",
            "start": "2026-12-01T07:00:00Z",
            "end": "2026-12-01T17:00:00Z",
            "reason_code": "slot_unavailable",
        }
    ],
)
SERIES_TOO_LONG = problem_example(
    422,
    "validation_error",
    "until: a series spans at most 92 dates, `from` and `until` included",
    errors=[
        {
            "loc": ["body", "until"],
            "field": "until",
            "message": "a series spans at most 92 dates, `from` and `until` included",
            "type": "series_too_long",
        }
    ],
)


def invalid_field(field: str, message: str, type_: str) -> dict[int | str, Any]:
    """A `responses` entry with an example 422 for one field of the body."""
    error = {"loc": ["body", *field.split(".")], "field": field, "message": message, "type": type_}
    return problem_example(422, "validation_error", f"{field}: {message}", errors=[error])


SHORT_PASSWORD = invalid_field("password", "String should have at least 10 characters", "string_too_short")
PUSH_ENDPOINT_REFUSED = problem_example(
    422,
    "webhook_url_not_allowed",
    "the URL resolves to an address that is not public (loopback, private, link-local, multicast or "
    "reserved)",
)
TOO_LONG = problem_example(
    422, "invalid_interval", "a booking of this spot lasts at most 30 days", reason="too_long", limit=43200
)


# --- building the document --------------------------------------------------------------------


def _calls(dependant: Dependant) -> set[str]:
    names = {getattr(dependant.call, "__name__", "")}
    for sub in dependant.dependencies:
        names |= _calls(sub)
    return names


def _camel(name: str) -> str:
    first, *rest = [part for part in name.split("_") if part]
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def _api_routes(app: FastAPI) -> Iterator[tuple[str, str, Any]]:
    """(path, method, route) for every documented operation; the route as included (with the
    dependencies and responses of the routers it was included through)."""
    for context in routing.iter_route_contexts(app.routes):
        path = context.path_format  # None only for a route without a path, never an APIRoute
        if (
            not isinstance(context.original_route, routing.APIRoute)
            or not context.include_in_schema
            or path is None
        ):
            continue
        for method in sorted(context.methods or ()):
            yield path, method.lower(), context


def build(app: FastAPI, named_enums: Mapping[str, list[str]]) -> dict[str, Any]:
    """`named_enums`: the enums a generator should turn into one named type each, with their values
    from the domains that decide them (app/main.py collects them: this module imports no domain).
    Inline enums with exactly these values become references to them."""
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=TAGS,
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    # FastAPI documents its own 422 body; ours is a problem.
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["Problem"] = copy.deepcopy(PROBLEM_SCHEMA)
    schemas["FieldProblem"] = copy.deepcopy(FIELD_PROBLEM_SCHEMA)
    components["securitySchemes"] = {
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Access token from `login` or `refreshTokens`.",
        }
    }
    _name_enums(schemas, named_enums)
    _add_patch_schemas(schemas, "SpotCreate", "SpotPatch")
    _doubles(schemas)

    for path, method, route in _api_routes(app):
        operation = schema["paths"][path][method]
        calls = _calls(route.dependant)
        if route.operation_id is None:
            # A route without its own operationId still gets a short stable one.
            operation["operationId"] = _camel(route.name)
        # One tag each: generators make one API class per tag, and an operation under two (a
        # router's tag and the route's own, like `bookings` and `me`) is generated twice with
        # clashing names. The route's own tag is the more specific.
        operation["tags"] = operation.get("tags", [])[-1:]
        _set_security(operation, calls)
        _complete_errors(operation, calls, has_body=route.body_field is not None)
        _clean_request_body(operation)
        _restore_examples(operation, route)
        _doubles([p.get("schema", {}) for p in operation.get("parameters", [])])
    _sort_paths(schema)
    return schema


def _set_security(operation: dict[str, Any], calls: set[str]) -> None:
    declared = operation.pop("security", [])
    if "current_user" in calls:
        operation["security"] = [{BEARER: []}]
    elif "optional_user" in calls or {} in declared:
        operation["security"] = copy.deepcopy(PUBLIC["security"])


def _complete_errors(operation: dict[str, Any], calls: set[str], *, has_body: bool) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    extra: list[str] = []
    # Not every route that accepts a token reads it (free intervals ignore it): only a route that
    # checks one can refuse it.
    if calls & {"current_user", "optional_user"}:
        extra.append("unauthorized")
    if has_body:
        extra += ["bad_request", "payload_too_large", "validation_error"]
    if "422" in responses or operation.get("parameters"):
        extra.append("validation_error")
    if "_request_session" in calls:
        extra.append("unavailable")
    for code in extra:
        status = str(CODE_STATUS[code])
        entry = responses.get(status)
        if entry is None:
            entry = responses[status] = _problem_response(int(status), [])
        # FastAPI's own 422 entry, or one that only gives an example, has no codes yet.
        entry.setdefault(CODES_KEY, [])
        if code not in entry[CODES_KEY]:
            entry[CODES_KEY].append(code)

    replays = any(p.get("name") == "Idempotency-Key" for p in operation.get("parameters", []))
    by_status: dict[str, list[str]] = {}
    for status, entry in sorted(responses.items()):
        if not status.startswith(("4", "5")):
            if replays and status.startswith("2"):
                entry.setdefault("headers", {}).update(REPLAYED)
            continue
        codes = entry.get(CODES_KEY) or [_GENERIC_CODE.get(int(status), "bad_request")]
        entry[CODES_KEY] = codes
        by_status[status] = codes
        phrase = PHRASES[int(status)]
        entry["description"] = f"{phrase}. `code`: " + ", ".join(f"`{c}`" for c in codes)
        content = entry.setdefault("content", {})
        for media_type in [m for m in content if m != PROBLEM_MEDIA_TYPE]:
            del content[media_type]
        content.setdefault(PROBLEM_MEDIA_TYPE, {})["schema"] = {"$ref": PROBLEM_REF}
        if status in ("429", "503"):
            entry.setdefault("headers", {}).update(RETRY_AFTER)
        if status == "401":
            entry.setdefault("headers", {}).update(WWW_AUTHENTICATE)
        if replays and status in ("403", "404", "409", "422"):
            # Refusals are stored and replayed like successes.
            entry.setdefault("headers", {}).update(REPLAYED)
    if by_status:
        operation[CODES_KEY] = by_status


def _clean_request_body(operation: dict[str, Any]) -> None:
    """A body documented by `openapi_extra` as a reference keeps only the reference (FastAPI's own
    schema for it, e.g. a plain object for a hand-parsed body, is merged in beside it)."""
    for media in operation.get("requestBody", {}).get("content", {}).values():
        body = media.get("schema", {})
        if "$ref" in body:
            media["schema"] = {"$ref": body["$ref"]}


def _restore_examples(operation: dict[str, Any], route: Any) -> None:
    """FastAPI drops every null from the document (`exclude_none`), examples included, which makes
    an example of a nullable field invalid: put the routes' examples back as they wrote them."""
    declared = [
        (operation["responses"].get(str(status), {}), entry)
        for status, entry in (route.responses or {}).items()
    ]
    declared.append((operation.get("requestBody", {}), (route.openapi_extra or {}).get("requestBody", {})))
    for target, source in declared:
        for media_type, media in source.get("content", {}).items():
            if "example" in media and media_type in target.get("content", {}):
                target["content"][media_type]["example"] = copy.deepcopy(media["example"])


def _sort_paths(schema: dict[str, Any]) -> None:
    # Dict order is what a JSON dump without sort_keys shows; keep the routes' order but make
    # each operation's responses read in status order.
    for item in schema["paths"].values():
        for operation in item.values():
            operation["responses"] = dict(sorted(operation["responses"].items()))


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _doubles(schemas: Any) -> None:
    """Every number is a Python float, i.e. a double: said so, generators type it `Double` instead
    of `BigDecimal` (Kotlin)."""
    for node in _walk(schemas):
        if node.get("type") == "number" and "format" not in node:
            node["format"] = "double"


def _name_enums(schemas: dict[str, Any], named: Mapping[str, list[str]]) -> None:
    by_values = {frozenset(values): name for name, values in named.items()}
    for name, values in named.items():
        if name in schemas and schemas[name].get("enum") != values:
            raise ValueError(f"component {name} exists with other values")
        schemas[name] = {"title": name, "type": "string", "enum": values}
    for name, component in schemas.items():
        if name in named:
            continue
        for node in _walk(component):
            found = node.get("enum")
            if isinstance(found, list) and frozenset(found) in by_values and node.get("type") == "string":
                ref = by_values[frozenset(found)]
                for key in ("enum", "type", "title", "const"):
                    node.pop(key, None)
                node["$ref"] = f"#/components/schemas/{ref}"
    for (component, field), enum in TYPED_STRINGS.items():
        prop = schemas.get(component, {}).get("properties", {}).get(field)
        if prop is None:
            continue
        to_enum = {"$ref": f"#/components/schemas/{enum}"}
        if prop.get("type") == "string":
            for key in ("type", "title"):
                prop.pop(key, None)
            prop.update(to_enum)
        elif "anyOf" in prop:
            prop["anyOf"] = [
                to_enum if branch.get("type") == "string" else branch for branch in prop["anyOf"]
            ]


def _add_patch_schemas(schemas: dict[str, Any], source: str, target: str) -> None:
    """`target`: `source` as a JSON merge patch (RFC 7396) of it: every field optional, no defaults
    (a generated client would send them), a field that is optional in `source` may be `null` to
    clear it, nested objects are patches of theirs."""
    if source not in schemas:
        return
    names: dict[str, str] = {}

    def object_refs(component: str) -> None:
        if component in names or schemas[component].get("type") != "object":
            return
        names[component] = target if component == source else f"{component}Patch"
        for node in _walk(schemas[component]):
            ref = node.get("$ref", "")
            if ref.startswith("#/components/schemas/"):
                object_refs(ref.rsplit("/", 1)[1])

    object_refs(source)
    for original, patch_name in names.items():
        patch = copy.deepcopy(schemas[original])
        required = set(patch.pop("required", []))
        patch["title"] = patch_name
        for field, prop in patch.get("properties", {}).items():
            prop.pop("default", None)
            for node in _walk(prop):
                ref = node.get("$ref", "")
                if ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in names:
                    node["$ref"] = "#/components/schemas/" + names[ref.rsplit("/", 1)[1]]
            if field not in required and not _nullable(prop):
                patch["properties"][field] = _or_null(prop)
        patch["description"] = (
            f"A JSON merge patch (RFC 7396) of {original}: only the fields that change; "
            "`null` clears a field that is optional there."
        )
        schemas[patch_name] = patch


def _nullable(prop: dict[str, Any]) -> bool:
    return any(branch.get("type") == "null" for branch in prop.get("anyOf", []))


def _or_null(prop: dict[str, Any]) -> dict[str, Any]:
    keep = {k: v for k, v in prop.items() if k in ("title", "description", "examples")}
    branch = {k: v for k, v in prop.items() if k not in keep}
    return {**keep, "anyOf": [branch, {"type": "null"}]}


TAGS = [
    {"name": "auth", "description": "Accounts and sign-in. No token needed."},
    {"name": "me", "description": "The signed-in account and what belongs to it."},
    {"name": "spots", "description": "Spots: owners publish and change them; anyone reads the public view."},
    {"name": "availability", "description": "When a spot is offered (owners) and free (anyone)."},
    {"name": "search", "description": "Free spots near a point, without sign-in."},
    {"name": "bookings", "description": "Quotes and bookings. Changing POSTs take `Idempotency-Key`."},
    {
        "name": "reviews",
        "description": "After a completed booking driver and owner review each other once, within 14 "
        "days; the drivers' reviews of a spot are public, the owners' reviews of a driver count in "
        "the driver's rating.",
    },
    {
        "name": "events",
        "description": "What happens to your bookings, as it happens: webhooks signed by the Standard "
        "Webhooks specification, the live stream and Web Push.",
    },
    {
        "name": "calendars",
        "description": "Calendar feeds (iCalendar, RFC 5545) of bookings at secret URLs, for calendar "
        "programs: a spot's for its owner, a driver's of their own bookings.",
    },
    {
        "name": "earnings",
        "description": "What an owner's spots earned, per month or per spot, as JSON or CSV.",
    },
    {
        "name": "open data",
        "description": "Zones of spots and their free capacity for the city's data portal, without "
        "sign-in, as ParkAPI v3 names them: never a single spot (at least 5 spots of 3 owners per zone).",
    },
    {
        "name": "admin",
        "description": "Moderation, for administrators only: suspending accounts, unlisting spots, "
        "hiding reviews and the audit log of these actions.",
    },
    {"name": "operations", "description": "Health, readiness and metrics for operators."},
]


# --- /docs ----------------------------------------------------------------------------------

DOCS_ASSETS = "/docs/assets"
_ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"


def install_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from files this process serves, so the page needs no CDN (create the
    app with `docs_url=None`)."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=_ASSETS_DIR), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} API",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )


# --- the snapshot ---------------------------------------------------------------------------


def dumps(schema: Mapping[str, Any]) -> str:
    """The committed form: sorted keys, so regenerating it is deterministic."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
