from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from app import errors, openapi
from app.errors import ProblemError
from app.openapi import CODE_STATUS
from booking.states import Status

WEBHOOK_ROUTES = {
    ("post", "/v1/me/webhooks"),
    ("get", "/v1/me/webhooks"),
    ("get", "/v1/me/webhooks/{webhook_id}"),
    ("patch", "/v1/me/webhooks/{webhook_id}"),
    ("delete", "/v1/me/webhooks/{webhook_id}"),
    ("post", "/v1/me/webhooks/{webhook_id}/rotate-secret"),
    ("post", "/v1/me/webhooks/{webhook_id}/test"),
    ("get", "/v1/me/webhooks/{webhook_id}/deliveries"),
    ("post", "/v1/me/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"),
}
# The routes of the contract (docs/api.md) that this service implements so far.
CONTRACT = {
    ("post", "/v1/admin/users/{user_id}/suspend"),
    ("post", "/v1/admin/users/{user_id}/reinstate"),
    ("post", "/v1/admin/spots/{spot_id}/unlist"),
    ("post", "/v1/admin/spots/{spot_id}/relist"),
    ("get", "/v1/admin/audit"),
    ("post", "/v1/admin/reviews/{review_id}/hide"),
    ("post", "/v1/auth/register"),
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/refresh"),
    ("post", "/v1/auth/logout"),
    ("post", "/v1/auth/verify-email"),
    ("post", "/v1/auth/password-reset"),
    ("post", "/v1/auth/password-reset/confirm"),
    ("get", "/v1/me"),
    ("patch", "/v1/me"),
    ("delete", "/v1/me"),
    ("get", "/v1/me/export"),
    ("post", "/v1/me/vehicles"),
    ("get", "/v1/me/vehicles"),
    ("delete", "/v1/me/vehicles/{vehicle_id}"),
    ("post", "/v1/spots"),
    ("get", "/v1/spots/{spot_id}"),
    ("patch", "/v1/spots/{spot_id}"),
    ("delete", "/v1/spots/{spot_id}"),
    ("get", "/v1/me/spots"),
    ("get", "/v1/spots/{spot_id}/availability"),
    *(
        (method, f"/v1/spots/{{spot_id}}/availability/{kind}{suffix}")
        for kind in ("rules", "windows", "blackouts")
        for method, suffix in (("post", ""), ("get", ""), ("delete", "/{item_id}"))
    ),
    ("get", "/v1/search"),
    ("post", "/v1/quotes"),
    ("post", "/v1/bookings"),
    ("get", "/v1/bookings/{booking_id}"),
    ("get", "/v1/me/bookings"),
    ("post", "/v1/quotes/series"),
    ("post", "/v1/booking-series"),
    ("get", "/v1/booking-series/{series_id}"),
    ("post", "/v1/booking-series/{series_id}/confirm"),
    ("post", "/v1/booking-series/{series_id}/cancel"),
    *(
        ("post", f"/v1/bookings/{{booking_id}}/{action}")
        for action in ("confirm", "approve", "decline", "cancel", "extend", "check-in", "check-out")
    ),
    ("post", "/v1/bookings/{booking_id}/review"),
    ("get", "/v1/spots/{spot_id}/reviews"),
    ("post", "/v1/reviews/{review_id}/reply"),
    ("post", "/v1/spots/{spot_id}/calendar-token"),
    ("post", "/v1/me/calendar-token"),
    ("get", "/v1/spots/{spot_id}/calendar.ics"),
    ("get", "/v1/me/calendar.ics"),
    ("get", "/v1/me/earnings"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/v1/push/vapid-public-key"),
    ("get", "/v1/open-data/parking-sites"),
    ("get", "/v1/open-data/parking-sites/realtime"),
    ("post", "/v1/me/push-subscriptions"),
    ("delete", "/v1/me/push-subscriptions/{subscription_id}"),
    *WEBHOOK_ROUTES,
}


async def test_openapi_lists_the_contract_routes(client: AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    served = {(method, path) for path, item in schema["paths"].items() for method in item}
    assert served >= CONTRACT


async def test_docs_api_md_names_every_served_route(client: AsyncClient) -> None:
    reference = (Path(__file__).resolve().parent.parent / "docs" / "api.md").read_text()
    schema = (await client.get("/openapi.json")).json()
    missing = [
        f"{method.upper()} {path}"
        for path, item in schema["paths"].items()
        for method in item
        if f"`{method.upper()} {path}" not in reference
    ]
    assert missing == []


def test_docs_api_md_names_every_problem_code_with_its_status() -> None:
    reference = (Path(__file__).resolve().parent.parent / "docs" / "api.md").read_text()
    missing = [code for code, status in CODE_STATUS.items() if f"| `{code}` | {status} |" not in reference]
    assert missing == []


async def test_every_error_response_is_documented_as_a_problem(client: AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "Problem" in schema["components"]["schemas"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    content = response["content"]
                    assert list(content) == ["application/problem+json"], (method, path, status)


async def test_spot_patch_and_get_document_their_headers(client: AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    patch = schema["paths"]["/v1/spots/{spot_id}"]["patch"]
    assert any(p["name"] == "if-match" for p in patch["parameters"])
    assert "412" in patch["responses"]


async def test_docs_are_served(client: AsyncClient) -> None:
    r = await client.get("/docs")
    assert r.status_code == 200
    assert "swagger" in r.text.lower()


async def test_booking_posts_document_the_idempotency_key(client: AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    for path, item in schema["paths"].items():
        if path.startswith(("/v1/bookings", "/v1/booking-series")):
            for method, operation in item.items():
                if method == "post":
                    names = [p["name"] for p in operation.get("parameters", [])]
                    assert "Idempotency-Key" in names, path


# --- the document as client generators read it (app/openapi.py) ---------------------------------

SNAPSHOT = Path(__file__).with_name("openapi.snapshot.json")
REGENERATE = "make openapi-snapshot (parkshare openapi --write tests/openapi.snapshot.json)"
PUBLIC_OPERATIONS = {"searchSpots", "getSpot", "getAvailability", "listSpotReviews"}
ANONYMOUS_OPERATIONS = {
    # The calendar feeds: the token in the URL is the credential.
    "getSpotCalendarFeed",
    "getMyCalendarFeed",
    "getHealth",
    "getReadiness",
    "getMetrics",
    "register",
    "login",
    "refreshTokens",
    "logout",
    "verifyEmail",
    "requestPasswordReset",
    "confirmPasswordReset",
    "getVapidPublicKey",
    # Open data for the city's portal.
    "listOpenDataParkingSites",
    "listOpenDataParkingSitesRealtime",
}
OPERATION_IDS = {
    "createWebhook",
    "listWebhooks",
    "getWebhook",
    "updateWebhook",
    "deleteWebhook",
    "rotateWebhookSecret",
    "sendWebhookTest",
    "listWebhookDeliveries",
    "redeliverWebhookDelivery",
    "register",
    "login",
    "refreshTokens",
    "logout",
    "verifyEmail",
    "requestPasswordReset",
    "confirmPasswordReset",
    "getMe",
    "getMyEarnings",
    "resendVerification",
    "changePassword",
    "changeEmail",
    "updateMe",
    "addVehicle",
    "listMyVehicles",
    "removeVehicle",
    "createSpot",
    "getSpot",
    "updateSpot",
    "deleteSpot",
    "listMySpots",
    "getAvailability",
    "createAvailabilityRule",
    "listAvailabilityRules",
    "deleteAvailabilityRule",
    "createAvailabilityWindow",
    "listAvailabilityWindows",
    "deleteAvailabilityWindow",
    "createAvailabilityBlackout",
    "listAvailabilityBlackouts",
    "deleteAvailabilityBlackout",
    "searchSpots",
    "createQuote",
    "createBooking",
    "getBooking",
    "listMyBookings",
    "confirmBooking",
    "approveBooking",
    "declineBooking",
    "cancelBooking",
    "extendBooking",
    "checkInBooking",
    "checkOutBooking",
    "createSeriesQuote",
    "createBookingSeries",
    "getBookingSeries",
    "confirmBookingSeries",
    "cancelBookingSeries",
    "reviewBooking",
    "listBookingReviews",
    "listSpotReviews",
    "replyToReview",
    "hideReview",
    "issueSpotCalendarToken",
    "issueMyCalendarToken",
    "getSpotCalendarFeed",
    "getMyCalendarFeed",
    "getHealth",
    "getReadiness",
    "getMetrics",
    "getVapidPublicKey",
    "subscribePush",
    "unsubscribePush",
    "listOpenDataParkingSites",
    "listOpenDataParkingSitesRealtime",
}
# The main requests and answers, each with an example: (operationId, success status).
EXAMPLED = {
    "register": "201",
    "login": "200",
    "createSpot": "201",
    "createAvailabilityRule": "201",
    "searchSpots": "200",
    "createQuote": "200",
    "createBooking": "201",
    "createSeriesQuote": "200",
    "createBookingSeries": "201",
    "subscribePush": "201",
    "createWebhook": "201",
    "reviewBooking": "201",
    "replyToReview": "200",
    "listOpenDataParkingSites": "200",
    "listOpenDataParkingSitesRealtime": "200",
}
# The exampled operations that take no request body.
BODILESS = {"searchSpots", "listOpenDataParkingSites", "listOpenDataParkingSitesRealtime"}


async def served(client: AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


def operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def by_id(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {op["operationId"]: op for _, _, op in operations(schema)}


async def test_operation_ids_are_short_camel_case_and_unique(client: AsyncClient) -> None:
    schema = await served(client)
    ids = [op.get("operationId", "") for _, _, op in operations(schema)]
    assert all(re.fullmatch(r"[a-z][a-zA-Z]{2,40}", i) for i in ids), ids
    assert len(ids) == len(set(ids))
    assert set(ids) >= OPERATION_IDS, OPERATION_IDS - set(ids)
    assert all(op.get("summary") for _, _, op in operations(schema))


# Signed-in calls that also check the password (deleting the account): a wrong one is a 401 of its own.
PASSWORD_CHECKED = {
    "deleteMe": ["invalid_credentials"],
    "changePassword": ["invalid_credentials"],
    "changeEmail": ["invalid_credentials"],
}


async def test_security_says_which_calls_need_a_token(client: AsyncClient) -> None:
    schema = await served(client)
    assert schema["components"]["securitySchemes"] == {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Access token from `login` or `refreshTokens`.",
        }
    }
    for operation_id, operation in by_id(schema).items():
        if operation_id in PUBLIC_OPERATIONS:
            assert operation["security"] == [{}, {"bearer": []}], operation_id
            # A bad token is refused where the token shows more; free intervals never read it.
            assert ("401" in operation["responses"]) == (operation_id != "getAvailability"), operation_id
        elif operation_id in ANONYMOUS_OPERATIONS:
            assert "security" not in operation, operation_id
        else:
            assert operation["security"] == [{"bearer": []}], operation_id
            expected = sorted(["unauthorized", *PASSWORD_CHECKED.get(operation_id, [])])
            assert operation["responses"]["401"]["x-problem-codes"] == expected, operation_id


async def test_the_public_calls_answer_without_a_token(client: AsyncClient) -> None:
    # What the document promises for searchSpots: no 401 without a token.
    r = await client.get(
        "/v1/search",
        params={
            "lat": 51.5,
            "lon": 7.45,
            "radius_m": 500,
            "start": "2026-11-24T08:00:00Z",
            "end": "2026-11-24T10:00:00Z",
        },
    )
    assert r.status_code == 200, r.text


def _string_branches(prop: dict[str, Any]) -> list[dict[str, Any]]:
    branches = prop.get("anyOf", [prop])
    return [b for b in branches if b.get("type") == "string"]


# A series' `from` and `until` are the spot's local dates (docs/api.md, "Series"), not instants.
LOCAL_DATES = {("SeriesRequest", "until"), ("SeriesOut", "until")}


async def test_every_timestamp_is_a_date_time_in_answers_too(client: AsyncClient) -> None:
    schemas = (await served(client))["components"]["schemas"]
    found = 0
    for name, component in schemas.items():
        for field, prop in component.get("properties", {}).items():
            if (name, field) in LOCAL_DATES:
                assert prop["format"] == "date", (name, field, prop)
            elif field in ("start", "end", "until", "at") or field.endswith("_at"):
                branches = _string_branches(prop)
                assert branches, (name, field)
                assert all(b.get("format") == "date-time" for b in branches), (name, field, prop)
                found += 1
    assert schemas["BookingOut"]["properties"]["created_at"]["format"] == "date-time"
    assert found > 20


async def test_numbers_are_doubles(client: AsyncClient) -> None:
    schema = await served(client)
    lat = schema["components"]["schemas"]["LocationOut"]["properties"]["lat"]
    assert lat["format"] == "double"
    search = schema["paths"]["/v1/search"]["get"]["parameters"]
    assert next(p for p in search if p["name"] == "radius_m")["schema"]["format"] == "double"


async def test_enums_are_named_types(client: AsyncClient) -> None:
    schemas = (await served(client))["components"]["schemas"]

    def ref(component: str, field: str) -> set[str]:
        prop = schemas[component]["properties"][field]
        return {b["$ref"].rsplit("/", 1)[1] for b in prop.get("anyOf", [prop]) if "$ref" in b}

    assert ref("BookingOut", "status") == {"BookingStatus"}
    assert ref("EventOut", "status") == {"BookingStatus"}
    assert ref("Rules", "cancellation_policy") == {"CancellationPolicy"}
    assert ref("RulesOut", "cancellation_policy") == {"CancellationPolicy"}
    assert ref("CancellationOut", "policy") == {"CancellationPolicy"}
    assert ref("UserOut", "role") == {"Role"}
    assert ref("QuoteOut", "reason_code") == {"QuoteReasonCode"}
    assert ref("EvChargerOut", "connector") == {"Connector"}
    assert ref("Problem", "code") == {"ProblemCode"}
    assert schemas["BookingStatus"]["enum"] == [s.value for s in Status]
    assert schemas["Role"]["enum"] == ["user", "admin"]
    assert set(schemas["ProblemCode"]["enum"]) == set(CODE_STATUS)


def _problem_classes(cls: type[ProblemError]) -> Iterator[type[ProblemError]]:
    yield cls
    for sub in cls.__subclasses__():
        yield from _problem_classes(sub)


def test_every_code_the_service_answers_is_listed_with_its_status() -> None:
    # app.main (imported by conftest) has imported every router and service by now.
    answered = {(c.code, c.status) for c in _problem_classes(ProblemError)}
    answered |= {(code, status) for status, code in errors._CODES_BY_STATUS.items()}
    missing = {(code, status) for code, status in answered if CODE_STATUS.get(code) != status}
    assert not missing, f"add these to CODE_STATUS in app/openapi.py: {sorted(missing)}"


async def test_every_error_answer_lists_its_codes(client: AsyncClient) -> None:
    schema = await served(client)
    for method, path, operation in operations(schema):
        listed = operation.get("x-problem-codes", {})
        for status, response in operation["responses"].items():
            if not status.startswith(("4", "5")):
                continue
            codes = response["x-problem-codes"]
            assert codes, (method, path, status)
            assert listed[status] == codes, (method, path, status)
            for code in codes:
                assert CODE_STATUS[code] == int(status), (method, path, status, code)
                assert f"`{code}`" in response["description"], (method, path, status, code)


async def test_routes_document_the_errors_of_their_kind(client: AsyncClient) -> None:
    schema = await served(client)
    ops = by_id(schema)
    for operation_id, operation in ops.items():
        responses = operation["responses"]
        # The public key is read from the settings, not the database.
        if operation_id not in ("getHealth", "getMetrics", "getVapidPublicKey"):
            assert "unavailable" in responses["503"]["x-problem-codes"], operation_id
            assert "Retry-After" in responses["503"]["headers"], operation_id
        if "requestBody" in operation:
            assert responses["400"]["x-problem-codes"] == ["bad_request"], operation_id
            assert responses["413"]["x-problem-codes"] == ["payload_too_large"], operation_id
            assert "validation_error" in responses["422"]["x-problem-codes"], operation_id
    for operation_id in ("register", "login"):
        assert ops[operation_id]["responses"]["429"]["x-problem-codes"] == ["rate_limited"]
        assert "Retry-After" in ops[operation_id]["responses"]["429"]["headers"]
    assert ops["login"]["responses"]["401"]["x-problem-codes"] == ["invalid_credentials", "account_suspended"]
    booking_409 = ops["createBooking"]["responses"]["409"]["x-problem-codes"]
    assert {"slot_unavailable", "own_spot", "idempotency_in_progress"} <= set(booking_409)
    assert "hold_expired" in ops["confirmBooking"]["responses"]["409"]["x-problem-codes"]
    series_409 = ops["createBookingSeries"]["responses"]["409"]["x-problem-codes"]
    assert {"series_conflict", "own_spot", "idempotency_in_progress"} <= set(series_409)
    assert "hold_expired" in ops["confirmBookingSeries"]["responses"]["409"]["x-problem-codes"]
    assert ops["updateSpot"]["responses"]["412"]["x-problem-codes"] == ["precondition_failed"]


async def test_retry_and_version_headers_are_documented(client: AsyncClient) -> None:
    schema = await served(client)
    for method, path, operation in operations(schema):
        if method == "post" and path.startswith(("/v1/bookings", "/v1/booking-series")):
            success = next(r for s, r in operation["responses"].items() if s.startswith("2"))
            assert "Idempotent-Replayed" in success["headers"], path
    spot = schema["paths"]["/v1/spots/{spot_id}"]
    for method in ("get", "patch"):
        assert "ETag" in spot[method]["responses"]["200"]["headers"], method


async def test_spot_patch_body_is_a_typed_merge_patch(client: AsyncClient) -> None:
    schema = await served(client)
    schemas = schema["components"]["schemas"]
    content = schema["paths"]["/v1/spots/{spot_id}"]["patch"]["requestBody"]["content"]
    for media_type in ("application/merge-patch+json", "application/json"):
        assert content[media_type]["schema"] == {"$ref": "#/components/schemas/SpotPatch"}
    patch = schemas["SpotPatch"]
    assert set(patch["properties"]) == set(schemas["SpotCreate"]["properties"])
    assert "required" not in patch
    assert patch["properties"]["rules"]["anyOf"][0] == {"$ref": "#/components/schemas/RulesPatch"}
    # A default in a patch schema would make generated clients send it, changing the spot.
    assert '"default"' not in json.dumps(
        [s for n, s in schemas.items() if n.endswith("Patch") and n != "MePatch"]
    )


def _examples(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], Any]]:
    for method, path, operation in operations(schema):
        places = [("request", operation.get("requestBody", {}))]
        places += [(status, response) for status, response in operation["responses"].items()]
        for where, place in places:
            for media_type, media in place.get("content", {}).items():
                values = [media["example"]] if "example" in media else []
                values += [e["value"] for e in media.get("examples", {}).values()]
                for value in values:
                    yield f"{method} {path} {where} {media_type}", media["schema"], value


async def test_main_requests_and_answers_have_valid_examples(client: AsyncClient) -> None:
    schema = await served(client)
    ops = by_id(schema)
    for operation_id, status in EXAMPLED.items():
        operation = ops[operation_id]
        if operation_id not in BODILESS:
            assert "example" in operation["requestBody"]["content"]["application/json"], operation_id
        assert "example" in operation["responses"][status]["content"]["application/json"], operation_id
    assert "example" in ops["createBooking"]["responses"]["409"]["content"]["application/problem+json"]
    assert "example" in ops["createBookingSeries"]["responses"]["409"]["content"]["application/problem+json"]
    checked = 0
    for where, media_schema, value in _examples(schema):
        root = {**media_schema, "components": schema["components"]}
        errors_found = [e.message for e in OAS31Validator(root).iter_errors(value)]
        assert not errors_found, (where, errors_found)
        checked += 1
    assert checked >= 15


async def test_the_service_accepts_the_request_examples(client: AsyncClient) -> None:
    # The examples are what a client developer copies first: they must work as they are.
    user = await client.post("/v1/auth/register", json=openapi.REGISTER_REQUEST)
    assert user.status_code == 201, user.text
    tokens = await client.post("/v1/auth/login", json=openapi.LOGIN_REQUEST)
    assert tokens.status_code == 200, tokens.text
    auth = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
    spot = await client.post("/v1/spots", json=openapi.SPOT_CREATE, headers=auth)
    assert spot.status_code == 201, spot.text
    url = f"/v1/spots/{spot.json()['id']}"
    rule = await client.post(f"{url}/availability/rules", json=openapi.RULE_CREATE, headers=auth)
    assert rule.status_code == 201, rule.text
    # The merge patch under its own media type, which the document names for it.
    patched = await client.patch(
        url,
        content=json.dumps(openapi.SPOT_PATCH),
        headers={**auth, "Content-Type": "application/merge-patch+json", "If-Match": spot.headers["ETag"]},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["pricing"]["hourly_cents"] == openapi.SPOT_PATCH["pricing"]["hourly_cents"]
    assert patched.json()["description"] is None


async def test_docs_work_offline(client: AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "://" not in page.text, "the page must not load anything from another host"
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(assets) >= 3
    for asset in assets:
        assert asset.startswith("/"), asset
        r = await client.get(asset)
        assert r.status_code == 200, asset
        assert len(r.content) > 0, asset
    assert "'/openapi.json'" in page.text or '"/openapi.json"' in page.text


async def test_the_document_is_valid_and_matches_the_snapshot(client: AsyncClient) -> None:
    schema = await served(client)
    validate(schema)
    text = openapi.dumps(schema)
    committed = SNAPSHOT.read_text(encoding="utf-8") if SNAPSHOT.exists() else ""
    if text != committed:
        before = json.loads(committed) if committed else {}
        changed = sorted(_differences(before, schema))[:20]
        raise AssertionError(
            f"The served OpenAPI document differs from {SNAPSHOT.name} at {changed}. If the change is "
            f"intended, regenerate it with `{REGENERATE}` and commit it."
        )


def _differences(a: Any, b: Any, where: str = "") -> Iterator[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a.keys() | b.keys():
            yield from _differences(a.get(key), b.get(key), f"{where}/{key}")
    elif a != b:
        yield where or "/"


def test_no_request_matches_two_routes(app: FastAPI) -> None:
    """app.main includes the busiest routers first, which is safe only while the order of their
    routes never decides which one answers: no request fits two routes of one method. Two
    templates with as many segments may both fit a path when at each position the segments are
    equal or either holds a parameter; every route of every router counts, in the document or not."""
    routes: list[tuple[str, set[str]]] = []
    for top in app.router.routes:
        router = getattr(top, "original_router", None)
        if router is None:
            continue  # the documents, the web app: added after the routers, and in no router
        for route in router.routes:
            path, methods = getattr(route, "path", ""), getattr(route, "methods", None) or set()
            assert ":path}" not in path, f"{path} spans segments: this test cannot compare it"
            routes.append((path, set(methods)))
    assert len(routes) > 50

    def may_fit_one_path(a: str, b: str) -> bool:
        sa, sb = a.strip("/").split("/"), b.strip("/").split("/")
        return len(sa) == len(sb) and all(x == y or "{" in x or "{" in y for x, y in zip(sa, sb, strict=True))

    clashes = [
        (a, b, sorted(ma & mb))
        for i, (a, ma) in enumerate(routes)
        for b, mb in routes[i + 1 :]
        if ma & mb and may_fit_one_path(a, b)
    ]
    assert clashes == []
